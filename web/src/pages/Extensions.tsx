import { useCallback, useState } from "react";
import { del, errorText, fieldErrors, get, post, put } from "../lib/api";
import { useLiveEvents } from "../lib/events";
import { T } from "../lib/text";
import { useApi, usePoll } from "../lib/useApi";
import { Page, Table } from "./common";

interface Extension {
  number: string;
  name: string;
  supervisor: boolean;
  outbound: boolean;
  caller_id: string | null;
  mailbox: string | null;
  allowed_cidrs: string[];
  call_waiting: boolean;
  media_encryption: MediaEncryption;
  registered: boolean;
  registrations: Registration[];
}

type MediaEncryption = "none" | "optional" | "required";
const MEDIA_ENCRYPTION: MediaEncryption[] = ["none", "optional", "required"];

interface Registration {
  contact: string;
  source: string;
  transport?: string | null; // udp, tcp or tls
  user_agent: string | null;
}

export interface SipServer {
  host: string | null;
  port: number | null;
  transports: string[];
  realm: string;
  tls_port?: number | null; // SIP over TLS, when flowpbx listens on it
}

/** The text "Copy SIP settings" puts on the clipboard: what a phone needs to register. The
 * password only when known (right after creation); the host falls back to the address the
 * browser reached flowpbx at. */
export function sipSettingsText(
  ext: { number: string; name: string },
  server: SipServer,
  fallbackHost: string,
  password: string | null,
): string {
  const host = server.host ?? fallbackHost;
  const t = T.extensions;
  return [
    t.sipTitle(ext.number, ext.name),
    `${t.server}: ${host}`,
    `${t.port}: ${server.port ?? 5060}`,
    `${t.transport}: ${server.transports.filter((x) => x !== "tls").map((x) => x.toUpperCase()).join(" / ")}`,
    ...(server.tls_port != null ? [`${t.tlsPort}: ${server.tls_port}`, `${t.tlsTransport}: TLS`] : []),
    `${t.username}: ${ext.number}`,
    `${t.authUser}: ${ext.number}`,
    `${t.domain}: ${host}`,
    `${t.password}: ${password ?? t.passwordUnknown}`,
    ...(server.tls_port != null ? [t.tlsNote] : []),
  ].join("\n");
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false; // no clipboard access (plain http on a LAN address): the text is shown
  }
}

export function randomPassword(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => "abcdefghjkmnpqrstuvwxyz23456789"[b % 31]).join("");
}

/** The settings of one extension (PUT replaces them all: the form sends every field). */
function bodyOf(x: Extension, password?: string): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: x.name,
    supervisor: x.supervisor,
    outbound: x.outbound,
    caller_id: x.caller_id || null,
    mailbox: x.mailbox || null,
    allowed_cidrs: x.allowed_cidrs ?? [],
    call_waiting: x.call_waiting,
    media_encryption: x.media_encryption ?? "none",
  };
  if (password !== undefined) body.password = password;
  return body;
}

/** Whether the calls of a phone registered like this have their audio encrypted: SRTP keys go
 * only over TLS, so it depends on the extension's setting and the registration's transport. */
export function mediaSecurity(
  setting: string | undefined,
  transport: string | null | undefined,
): "encrypted" | "optional" | "plain" | "blocked" {
  const tls = transport === "tls";
  if (setting === "required") return tls ? "encrypted" : "blocked";
  if (setting === "optional" && tls) return "optional";
  return "plain";
}

/** A small padlock (closed, open) or warning sign drawn inline: no emoji font needed. */
function LockIcon(props: { kind: "closed" | "open" | "warning" }) {
  const body =
    props.kind === "warning" ? (
      <path d="M8 1.5 15 14.5H1L8 1.5Zm0 4v4.5m0 1.5v1.2" fill="none" stroke="currentColor" strokeWidth="1.5" />
    ) : (
      <>
        <rect x="2.5" y="7" width="11" height="8" rx="1.5" fill="currentColor" />
        <path
          d={props.kind === "closed" ? "M5 7V4.5a3 3 0 0 1 6 0V7" : "M5 7V4.5a3 3 0 0 1 5.8-1.1"}
          fill="none"
          stroke="currentColor"
          strokeWidth="1.6"
        />
      </>
    );
  return (
    <svg className="lock-icon" data-icon={props.kind} aria-hidden="true" width="14" height="14" viewBox="0 0 16 16">
      {body}
    </svg>
  );
}

function RegistrationFacts(props: { ext: Extension; reg: Registration; index: number }) {
  const { ext, reg } = props;
  const L = T.extensions.mediaLock;
  const transport = (reg.transport ?? "").toUpperCase();
  const kind = mediaSecurity(ext.media_encryption, reg.transport);
  const [icon, text, tip] =
    kind === "encrypted"
      ? (["closed", L.encrypted, L.encryptedTip] as const)
      : kind === "optional"
        ? (["closed", L.optional, L.optionalTip] as const)
        : kind === "blocked"
          ? (["warning", L.blocked, L.blockedTip(transport || "UDP/TCP")] as const)
          : (["open", L.plain, L.plainTip(transport || "UDP/TCP")] as const);
  return (
    <span className="registration" data-testid={`reg-${ext.number}-${props.index}`}>
      {`${reg.user_agent ?? T.extensions.phone} @ ${reg.source} `}
      <span className={`pill ${reg.transport === "tls" ? "on" : "off"}`} data-testid={`reg-transport-${ext.number}-${props.index}`}>
        {reg.transport ? T.extensions.over(transport) : T.extensions.transportUnknown}
      </span>{" "}
      <span className={`media-lock media-${kind}`} title={tip} data-testid={`reg-media-${ext.number}-${props.index}`}>
        <LockIcon kind={icon} /> {text}
      </span>
    </span>
  );
}

function Problem(props: { id: string; text?: string }) {
  return props.text ? (
    <div className="problem" id={props.id}>
      {props.text}
    </div>
  ) : null;
}

function ExtensionEditor(props: {
  ext: Extension;
  mailboxes: string[];
  onSaved: (text: string, password?: string) => void;
  onCancel: () => void;
}) {
  const [x, setX] = useState<Extension>(props.ext);
  const [password, setPassword] = useState("");
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState("");
  const n = props.ext.number;
  const send = async (withPassword: boolean) => {
    setProblems({});
    setError("");
    try {
      await put(`/extensions/${encodeURIComponent(n)}`, bodyOf(x, withPassword ? password : undefined));
      if (withPassword) props.onSaved(T.extensions.passwordSet(n), password);
      else props.onSaved(T.extensions.saved(n));
    } catch (e) {
      const by = fieldErrors(e);
      setProblems(by);
      setError(Object.keys(by).length ? T.common.fixFields : errorText(e));
    }
  };
  const p = (f: string) => (problems[f] ? { "aria-invalid": true, "aria-describedby": `ext-${f}-problem` } : {});
  return (
    <section className="card ext-editor" aria-label={T.extensions.editOf(n)}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void send(false);
        }}
      >
        <h2>{T.extensions.editOf(n)}</h2>
        <div className="field">
          <label htmlFor="ext-edit-name">{T.extensions.name}</label>
          <input id="ext-edit-name" value={x.name} required onChange={(e) => setX({ ...x, name: e.target.value })} {...p("name")} />
          <Problem id="ext-name-problem" text={problems.name} />
        </div>
        <div className="field">
          <label htmlFor="ext-edit-cid">{T.extensions.callerId}</label>
          <input id="ext-edit-cid" value={x.caller_id ?? ""} onChange={(e) => setX({ ...x, caller_id: e.target.value })} {...p("caller_id")} />
          <Problem id="ext-caller_id-problem" text={problems.caller_id} />
        </div>
        <div className="field">
          <label htmlFor="ext-edit-mailbox">{T.extensions.mailbox}</label>
          <select id="ext-edit-mailbox" value={x.mailbox ?? ""} onChange={(e) => setX({ ...x, mailbox: e.target.value || null })} {...p("mailbox")}>
            <option value="">{T.extensions.noMailbox}</option>
            {[...new Set([...props.mailboxes, ...(x.mailbox ? [x.mailbox] : [])])].map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
          <Problem id="ext-mailbox-problem" text={problems.mailbox} />
        </div>
        <div className="field">
          <label htmlFor="ext-edit-media">{T.extensions.mediaEncryption}</label>
          <select
            id="ext-edit-media"
            value={x.media_encryption ?? "none"}
            onChange={(e) => setX({ ...x, media_encryption: e.target.value as MediaEncryption })}
            {...p("media_encryption")}
          >
            {MEDIA_ENCRYPTION.map((m) => (
              <option key={m} value={m}>
                {T.extensions.mediaEncryptionOptions[m]}
              </option>
            ))}
          </select>
          <Problem id="ext-media_encryption-problem" text={problems.media_encryption} />
        </div>
        {(
          [
            ["supervisor", T.extensions.supervisor],
            ["outbound", T.extensions.outbound],
            ["call_waiting", T.extensions.callWaiting],
          ] as const
        ).map(([k, label]) => (
          <label key={k} className="check">
            <input type="checkbox" checked={x[k]} onChange={(e) => setX({ ...x, [k]: e.target.checked })} /> {label}
          </label>
        ))}
        {error && (
          <div className="error" role="alert">
            {error}
          </div>
        )}
        <div className="row-actions">
          <button className="primary" type="submit">
            {T.common.save}
          </button>
          <button type="button" onClick={props.onCancel}>
            {T.common.cancel}
          </button>
        </div>
      </form>
      <form
        className="inline"
        aria-label={T.extensions.resetPassword}
        onSubmit={(e) => {
          e.preventDefault();
          void send(true);
        }}
      >
        <h3>{T.extensions.resetPassword}</h3>
        <label htmlFor="ext-new-password">{T.extensions.newPassword}</label>
        <input
          id="ext-new-password"
          value={password}
          required
          autoComplete="new-password"
          onChange={(e) => setPassword(e.target.value)}
          {...p("password")}
        />
        <button type="button" onClick={() => setPassword(randomPassword())}>
          {T.extensions.generate}
        </button>
        <button type="submit">{T.extensions.setPassword}</button>
        <Problem id="ext-password-problem" text={problems.password} />
      </form>
    </section>
  );
}

export function Extensions({ readOnly }: { readOnly: boolean }) {
  const { data, error, reload } = useApi<Extension[]>("/extensions");
  usePoll(reload, 2000);
  useLiveEvents(
    useCallback((e) => {
      if (e.type === "registration") reload();
    }, [reload]),
  );
  const [number, setNumber] = useState("");
  const [name, setName] = useState("");
  const [created, setCreated] = useState<{ number: string; name: string; password: string; reset?: boolean } | null>(
    null,
  );
  const [createError, setCreateError] = useState("");
  const [sip, setSip] = useState<{ text: string; copied: boolean } | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const boxes = useApi<{ number: string }[]>(readOnly ? null : "/mailboxes");
  const remove = async (x: Extension) => {
    if (!window.confirm(T.extensions.confirmDelete(x.number))) return;
    try {
      await del(`/extensions/${encodeURIComponent(x.number)}`);
      setNotice({ ok: true, text: T.extensions.deleted(x.number) });
      if (editing === x.number) setEditing(null);
      reload();
    } catch (e) {
      setNotice({ ok: false, text: errorText(e) }); // in use: the API says by what
    }
  };
  const copySip = async (x: { number: string; name: string }) => {
    let server: SipServer = { host: null, port: null, transports: ["udp"], realm: "" };
    try {
      server = await get<SipServer>("/sip-server");
    } catch (e) {
      setCreateError(errorText(e));
    }
    const password = created?.number === x.number ? created.password : null;
    const text = sipSettingsText(x, server, location.hostname, password);
    setSip({ text, copied: await copyText(text) });
  };
  return (
    <Page title={T.extensions.title}>
      {!readOnly && (
        <form
          className="inline"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              // flowpbx generates the password when none is sent and returns it once; an
              // API that still wants one gets one made here
              let password = "";
              try {
                const made = await post<{ generated_password?: string | null }>("/extensions", { number, name });
                password = made.generated_password ?? "";
              } catch (first) {
                if (!("password" in fieldErrors(first))) throw first;
                password = randomPassword();
                await post("/extensions", { number, name, password });
              }
              setCreated({ number, name, password });
              setNotice(null);
              setNumber("");
              setName("");
              setSip(null);
              setCreateError("");
              reload();
            } catch (err) {
              setCreateError(errorText(err));
            }
          }}
        >
          <label htmlFor="ext-number">{T.extensions.number}</label>
          <input id="ext-number" value={number} onChange={(e) => setNumber(e.target.value)} required />
          <label htmlFor="ext-name">{T.extensions.name}</label>
          <input id="ext-name" value={name} onChange={(e) => setName(e.target.value)} required />
          <button className="primary">{T.common.create}</button>
        </form>
      )}
      {created && (
        <div className="banner ok" role="status">
          {created.reset ? T.extensions.passwordSet(created.number) : T.extensions.created(created.number)}{" "}
          <button onClick={() => void copySip(created)}>
            {T.extensions.copySip}
          </button>
        </div>
      )}
      {sip && (
        <section className="card sip-settings" aria-label={T.extensions.copySip}>
          <p role="status">{sip.copied ? T.extensions.copied : T.extensions.copyFailed}</p>
          <pre data-testid="sip-settings">{sip.text}</pre>
          <button className="icon-btn" aria-label={T.common.close} onClick={() => setSip(null)}>
            ✕
          </button>
        </section>
      )}
      {createError && (
        <div className="error" role="alert">
          {createError}
        </div>
      )}
      {notice && (
        <div className={notice.ok ? "banner ok" : "error"} role={notice.ok ? "status" : "alert"}>
          {notice.text}
        </div>
      )}
      {editing && data?.find((x) => x.number === editing) && (
        <ExtensionEditor
          key={editing}
          ext={data.find((x) => x.number === editing) as Extension}
          mailboxes={(boxes.data ?? []).map((b) => b.number)}
          onCancel={() => setEditing(null)}
          onSaved={(text, password) => {
            const x = data.find((e) => e.number === editing) as Extension;
            if (password) {
              setCreated({ number: x.number, name: x.name, password, reset: true });
              setNotice(null);
            } else {
              setCreated(null);
              setNotice({ ok: true, text });
            }
            setCreateError("");
            setEditing(null);
            reload();
          }}
        />
      )}
      <Table
        label={T.extensions.title}
        rows={data}
        error={error}
        rowKey={(x) => x.number}
        columns={[
          { title: T.extensions.number, render: (x) => x.number },
          { title: T.extensions.name, render: (x) => x.name },
          {
            title: T.extensions.state,
            render: (x) => (
              <span className={x.registered ? "pill on" : "pill off"} data-testid={`state-${x.number}`}>
                {x.registered ? T.extensions.registered : T.extensions.offline}
              </span>
            ),
          },
          {
            title: T.extensions.phones,
            render: (x) =>
              x.registrations.map((r, i) => (
                <span key={`${r.contact}-${i}`}>
                  {i > 0 && "; "}
                  <RegistrationFacts ext={x} reg={r} index={i} />
                </span>
              )),
          },
          {
            title: "",
            render: (x) => (
              <span className="row-actions">
                <button onClick={() => void copySip(x)} aria-label={T.extensions.copySipFor(x.number)}>
                  {T.extensions.copySip}
                </button>
                {!readOnly && (
                  <>
                    <button aria-label={T.extensions.editOf(x.number)} onClick={() => (setNotice(null), setEditing(x.number))}>
                      {T.extensions.edit}
                    </button>
                    <button className="danger" aria-label={T.extensions.deleteOf(x.number)} onClick={() => void remove(x)}>
                      {T.common.delete}
                    </button>
                  </>
                )}
              </span>
            ),
          },
        ]}
      />
    </Page>
  );
}
