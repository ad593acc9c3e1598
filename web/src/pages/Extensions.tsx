import { useCallback, useState } from "react";
import { errorText, get, post } from "../lib/api";
import { useLiveEvents } from "../lib/events";
import { T } from "../lib/text";
import { useApi, usePoll } from "../lib/useApi";
import { Page, Table } from "./common";

interface Extension {
  number: string;
  name: string;
  registered: boolean;
  registrations: { contact: string; source: string; user_agent: string | null }[];
}

export interface SipServer {
  host: string | null;
  port: number | null;
  transports: string[];
  realm: string;
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
    `${t.transport}: ${server.transports.map((x) => x.toUpperCase()).join(" / ")}`,
    `${t.username}: ${ext.number}`,
    `${t.authUser}: ${ext.number}`,
    `${t.domain}: ${host}`,
    `${t.password}: ${password ?? t.passwordUnknown}`,
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

function randomPassword(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => "abcdefghjkmnpqrstuvwxyz23456789"[b % 31]).join("");
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
  const [created, setCreated] = useState<{ number: string; name: string; password: string } | null>(null);
  const [createError, setCreateError] = useState("");
  const [sip, setSip] = useState<{ text: string; copied: boolean } | null>(null);
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
            const password = randomPassword();
            try {
              await post("/extensions", { number, name, password });
              setCreated({ number, name, password });
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
          {T.extensions.created(created.number)}{" "}
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
              x.registrations.map((r) => `${r.user_agent ?? T.extensions.phone} @ ${r.source}`).join("; "),
          },
          {
            title: "",
            render: (x) => (
              <button onClick={() => void copySip(x)} aria-label={T.extensions.copySipFor(x.number)}>
                {T.extensions.copySip}
              </button>
            ),
          },
        ]}
      />
    </Page>
  );
}
