// Numbers & trunks: trunks (SIP provider accounts) and My numbers created, edited and deleted
// with the API's rules; deleting something in use shows the API's answer (what uses it).
import { useState } from "react";
import { del, errorText, fieldErrors, post, put } from "../lib/api";
import { T } from "../lib/text";
import { useApi } from "../lib/useApi";
import { Page, Table } from "./common";
import { Field } from "./Mailboxes";

interface NumberRow {
  number: string;
  trunk: string;
  position: number;
  flow: string | null;
}
interface Trunk {
  name: string;
  host: string;
  port: number;
  transport: string;
  username: string | null;
  password_set: boolean;
  register: boolean;
  from_domain: string | null;
  trusted: boolean;
  country_code: string | null;
  national_prefix: string | null;
  max_calls: number | null;
  invite_rate: string | null;
  dial_format: string | null;
  media_encryption?: string;
  tls_verify?: boolean;
  tls_ca_file?: string | null;
  registration: { state?: string; error?: string | null } | null;
}

/** The dial_format choice that sends numbers as dialled (null in the API). */
const AS_DIALLED = "as dialled";

type Notice = { ok: boolean; text: string } | null;

/** An optional text: empty means none. */
const opt = (v: string) => (v.trim() === "" ? null : v.trim());
/** A whole number as typed: empty means none; anything else goes as typed, so the API's
 * answer ("Enter a whole number") reads by the field. */
const int = (v: string) => (v.trim() === "" ? null : /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : v.trim());

function Check(props: { id: string; label: string; checked: boolean; onChange: (v: boolean) => void }) {
  return (
    <div className="field field-boolean">
      <label htmlFor={props.id}>{props.label}</label>
      <input id={props.id} type="checkbox" checked={props.checked} onChange={(e) => props.onChange(e.target.checked)} />
    </div>
  );
}

function Select(props: {
  id: string;
  label: string;
  value: string;
  options: string[];
  labels?: Record<string, string>;
  onChange: (v: string) => void;
  problem?: string;
}) {
  return (
    <div className={`field${props.problem ? " has-problem" : ""}`}>
      <label htmlFor={props.id}>{props.label}</label>
      <select
        id={props.id}
        value={props.value}
        aria-invalid={props.problem ? true : undefined}
        aria-describedby={props.problem ? `${props.id}-problem` : undefined}
        onChange={(e) => props.onChange(e.target.value)}
      >
        {props.options.map((o) => (
          <option key={o} value={o}>
            {props.labels?.[o] ?? o}
          </option>
        ))}
      </select>
      {props.problem && (
        <div className="problem" id={`${props.id}-problem`}>
          {props.problem}
        </div>
      )}
    </div>
  );
}

function useSubmit(onDone: (text: string) => void) {
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState("");
  const submit = async (run: () => Promise<string>) => {
    setProblems({});
    setError("");
    try {
      onDone(await run());
    } catch (x) {
      const by = fieldErrors(x);
      setProblems(by);
      setError(Object.keys(by).length ? T.common.fixFields : errorText(x));
    }
  };
  return { problems, error, submit };
}

function FormEnd(props: { error: string; submit: string; onCancel: () => void }) {
  return (
    <>
      {props.error && (
        <div className="error" role="alert">
          {props.error}
        </div>
      )}
      <div className="row-actions">
        <button className="primary" type="submit">
          {props.submit}
        </button>
        <button type="button" onClick={props.onCancel}>
          {T.common.cancel}
        </button>
      </div>
    </>
  );
}

function TrunkForm(props: { trunk: Trunk | null; onDone: (text: string) => void; onCancel: () => void }) {
  const t = props.trunk;
  const L = T.trunks;
  const [name, setName] = useState(t?.name ?? "");
  const [host, setHost] = useState(t?.host ?? "");
  const [port, setPort] = useState(String(t?.port ?? 5060));
  const [transport, setTransport] = useState(t?.transport ?? "udp");
  const [username, setUsername] = useState(t?.username ?? "");
  const [password, setPassword] = useState("");
  const [noPassword, setNoPassword] = useState(false);
  const [register, setRegister] = useState(t?.register ?? false);
  const [fromDomain, setFromDomain] = useState(t?.from_domain ?? "");
  const [trusted, setTrusted] = useState(t?.trusted ?? false);
  const [countryCode, setCountryCode] = useState(t?.country_code ?? "");
  const [nationalPrefix, setNationalPrefix] = useState(t?.national_prefix ?? "");
  const [maxCalls, setMaxCalls] = useState(t?.max_calls == null ? "" : String(t.max_calls));
  const [inviteRate, setInviteRate] = useState(t?.invite_rate ?? "");
  const [dialFormat, setDialFormat] = useState(t?.dial_format ?? AS_DIALLED);
  const [mediaEncryption, setMediaEncryption] = useState(t?.media_encryption ?? "none");
  const [tlsVerify, setTlsVerify] = useState(t?.tls_verify ?? true);
  const [tlsCaFile, setTlsCaFile] = useState(t?.tls_ca_file ?? "");
  const { problems, error, submit } = useSubmit(props.onDone);
  const id = (f: string) => `${t ? `tr-${t.name}` : "tr-new"}-${f}`;
  const title = t ? L.editOf(t.name) : L.create;
  return (
    <form
      className="card mailbox-form"
      aria-label={title}
      onSubmit={(e) => {
        e.preventDefault();
        void submit(async () => {
          const body: Record<string, unknown> = {
            host: host.trim(),
            port: int(port) ?? 5060,
            transport,
            username: opt(username),
            register,
            from_domain: opt(fromDomain),
            trusted,
            country_code: opt(countryCode),
            national_prefix: opt(nationalPrefix),
            max_calls: int(maxCalls),
            invite_rate: opt(inviteRate),
            dial_format: dialFormat === AS_DIALLED ? null : dialFormat,
            media_encryption: mediaEncryption,
            tls_verify: tlsVerify,
            // a CA file only means something for TLS (the API refuses it otherwise)
            tls_ca_file: transport === "tls" ? opt(tlsCaFile) : null,
          };
          if (noPassword) body.password = null;
          else if (password) body.password = password;
          if (t) {
            await put(`/trunks/${encodeURIComponent(t.name)}`, body);
            return L.saved(t.name);
          }
          await post("/trunks", { name: name.trim(), ...body });
          return L.created(name.trim());
        });
      }}
    >
      <h3>{title}</h3>
      {!t && <Field id={id("name")} label={L.name} value={name} onChange={setName} problem={problems.name} required />}
      <Field id={id("host")} label={L.host} value={host} onChange={setHost} problem={problems.host} required />
      <Field id={id("port")} label={L.port} value={port} onChange={setPort} problem={problems.port} />
      <Select id={id("transport")} label={L.transport} value={transport} options={["udp", "tcp", "tls"]} onChange={setTransport} problem={problems.transport} />
      {transport === "tls" && (
        <>
          <Check id={id("tls_verify")} label={L.tlsVerify} checked={tlsVerify} onChange={setTlsVerify} />
          <div className="muted">{L.tlsVerifyHint}</div>
          <Field id={id("tls_ca_file")} label={L.tlsCaFile} value={tlsCaFile} onChange={setTlsCaFile} problem={problems.tls_ca_file} hint={L.tlsCaFileHint} />
        </>
      )}
      <Select
        id={id("media_encryption")}
        label={L.mediaEncryption}
        value={mediaEncryption}
        options={["none", "optional", "required"]}
        labels={L.mediaEncryptionOptions}
        onChange={setMediaEncryption}
        problem={problems.media_encryption}
      />
      <Field id={id("username")} label={L.username} value={username} onChange={setUsername} problem={problems.username} />
      <Field
        id={id("password")}
        label={L.password}
        value={password}
        onChange={setPassword}
        problem={problems.password}
        type="password"
        disabled={noPassword}
        hint={t ? `${t.password_set ? L.passwordSet : L.passwordNotSet}; ${L.passwordKeep}` : undefined}
      />
      {t?.password_set && <Check id={id("nopassword")} label={L.removePassword} checked={noPassword} onChange={setNoPassword} />}
      <Check id={id("register")} label={L.register} checked={register} onChange={setRegister} />
      <Field id={id("from_domain")} label={L.fromDomain} value={fromDomain} onChange={setFromDomain} problem={problems.from_domain} />
      <Check id={id("trusted")} label={L.trusted} checked={trusted} onChange={setTrusted} />
      <Field id={id("country_code")} label={L.countryCode} value={countryCode} onChange={setCountryCode} problem={problems.country_code} hint={L.countryCodeHint} />
      <Field id={id("national_prefix")} label={L.nationalPrefix} value={nationalPrefix} onChange={setNationalPrefix} problem={problems.national_prefix} hint={L.nationalPrefixHint} />
      <Field id={id("max_calls")} label={L.maxCalls} value={maxCalls} onChange={setMaxCalls} problem={problems.max_calls} hint={L.maxCallsHint} />
      <Select id={id("dial_format")} label={L.dialFormat} value={dialFormat} options={[AS_DIALLED, "e164", "national", "international"]} onChange={setDialFormat} problem={problems.dial_format} />
      <Field id={id("invite_rate")} label={L.inviteRate} value={inviteRate} onChange={setInviteRate} problem={problems.invite_rate} hint={L.inviteRateHint} />
      <FormEnd error={error} submit={t ? T.common.save : L.create} onCancel={props.onCancel} />
    </form>
  );
}

function NumberForm(props: {
  row: NumberRow | null;
  trunks: string[];
  onDone: (text: string) => void;
  onCancel: () => void;
}) {
  const n = props.row;
  const L = T.numbers;
  const [number, setNumber] = useState(n?.number ?? "");
  const [picked, setTrunk] = useState(n?.trunk ?? "");
  const trunk = picked || props.trunks[0] || ""; // the first trunk until one is picked (the list may load later)
  const [position, setPosition] = useState(n ? String(n.position) : "");
  const { problems, error, submit } = useSubmit(props.onDone);
  const id = (f: string) => `${n ? `num-${n.number}` : "num-new"}-${f}`;
  const title = n ? L.editOf(n.number) : L.create;
  return (
    <form
      className="card mailbox-form"
      aria-label={title}
      onSubmit={(e) => {
        e.preventDefault();
        void submit(async () => {
          const body = { trunk, position: int(position) };
          if (n) {
            await put(`/numbers/${encodeURIComponent(n.number)}`, body);
            return L.saved(n.number);
          }
          await post("/numbers", { number: number.trim(), ...body });
          return L.created(number.trim());
        });
      }}
    >
      <h3>{title}</h3>
      {!n && <Field id={id("number")} label={L.number} value={number} onChange={setNumber} problem={problems.number} required />}
      <Select id={id("trunk")} label={L.trunk} value={trunk} options={props.trunks} onChange={setTrunk} problem={problems.trunk} />
      <Field id={id("position")} label={L.position} value={position} onChange={setPosition} problem={problems.position} hint={L.positionHint} />
      <FormEnd error={error} submit={n ? T.common.save : L.create} onCancel={props.onCancel} />
    </form>
  );
}

function Banner(props: { notice: Notice }) {
  const n = props.notice;
  return n ? (
    <div className={n.ok ? "banner ok" : "error"} role={n.ok ? "status" : "alert"}>
      {n.text}
    </div>
  ) : null;
}

export function NumbersTrunks({ readOnly }: { readOnly: boolean }) {
  const nums = useApi<NumberRow[]>("/numbers");
  const trunks = useApi<Trunk[]>("/trunks");
  const [editNumber, setEditNumber] = useState<string | null>(null); // "" = new
  const [editTrunk, setEditTrunk] = useState<string | null>(null);
  const [numNotice, setNumNotice] = useState<Notice>(null);
  const [trunkNotice, setTrunkNotice] = useState<Notice>(null);
  const reload = () => {
    nums.reload();
    trunks.reload();
  };
  const numDone = (text: string) => (setEditNumber(null), setNumNotice({ ok: true, text }), reload());
  const trunkDone = (text: string) => (setEditTrunk(null), setTrunkNotice({ ok: true, text }), reload());
  const trunkNames = (trunks.data ?? []).map((t) => t.name);
  return (
    <Page title={T.numbers.title}>
      <section aria-label={T.numbers.numbers}>
        <header className="page-head">
          <h2>{T.numbers.numbers}</h2>
          {!readOnly && editNumber === null && (
            <button onClick={() => (setNumNotice(null), setEditNumber(""))}>{T.numbers.create}</button>
          )}
        </header>
        <Banner notice={numNotice} />
        {editNumber !== null && (
          <NumberForm
            key={editNumber}
            row={nums.data?.find((r) => r.number === editNumber) ?? null}
            trunks={trunkNames}
            onDone={numDone}
            onCancel={() => setEditNumber(null)}
          />
        )}
        <Table
          label={T.numbers.numbers}
          rows={nums.data}
          error={nums.error}
          rowKey={(n) => `number-${n.number}`}
          columns={[
            { title: T.col.position, render: (n) => `c${n.position}` },
            { title: T.col.number, render: (n) => n.number },
            { title: T.col.trunk, render: (n) => n.trunk },
            { title: T.col.flow, render: (n) => n.flow ?? T.numbers.noFlow },
            {
              title: "",
              render: (n) =>
                !readOnly && (
                  <span className="row-actions">
                    <button aria-label={T.numbers.editOf(n.number)} onClick={() => (setNumNotice(null), setEditNumber(n.number))}>
                      {T.mailboxes.edit}
                    </button>
                    <button
                      className="danger"
                      aria-label={T.numbers.deleteOf(n.number)}
                      onClick={async () => {
                        if (!window.confirm(T.numbers.confirmDelete(n.number))) return;
                        try {
                          await del(`/numbers/${encodeURIComponent(n.number)}`);
                          numDone(T.numbers.deleted(n.number));
                        } catch (x) {
                          setNumNotice({ ok: false, text: errorText(x) }); // in use: the API says by which flow
                        }
                      }}
                    >
                      {T.common.delete}
                    </button>
                  </span>
                ),
            },
          ]}
        />
      </section>
      <section aria-label={T.numbers.trunks}>
        <header className="page-head">
          <h2>{T.numbers.trunks}</h2>
          {!readOnly && editTrunk === null && (
            <button onClick={() => (setTrunkNotice(null), setEditTrunk(""))}>{T.trunks.create}</button>
          )}
        </header>
        <Banner notice={trunkNotice} />
        {editTrunk !== null && (
          <TrunkForm
            key={editTrunk}
            trunk={trunks.data?.find((r) => r.name === editTrunk) ?? null}
            onDone={trunkDone}
            onCancel={() => setEditTrunk(null)}
          />
        )}
        <Table
          label={T.numbers.trunks}
          rows={trunks.data}
          error={trunks.error}
          rowKey={(t) => `trunk-${t.name}`}
          columns={[
            { title: T.col.name, render: (t) => t.name },
            {
              title: T.col.address,
              render: (t) =>
                `${t.host}:${t.port} ${t.transport}` +
                (t.transport === "tls" && t.tls_verify === false ? ` (${T.trunks.tlsNotVerified})` : "") +
                (t.media_encryption && t.media_encryption !== "none" ? ` · SRTP ${t.media_encryption}` : ""),
            },
            { title: T.trunks.username, render: (t) => t.username ?? "—" },
            { title: T.trunks.password, render: (t) => (t.password_set ? T.trunks.passwordSet : T.trunks.passwordNotSet) },
            {
              title: T.col.registration,
              render: (t) =>
                t.register ? (
                  <span data-testid={`trunk-state-${t.name}`}>
                    {t.registration?.state ?? T.numbers.unknown}
                    {t.registration?.error && (
                      <span className="problem" role="note">
                        {" "}
                        {T.trunks.registrationError(t.registration.error)}
                      </span>
                    )}
                  </span>
                ) : (
                  T.numbers.notRegistering
                ),
            },
            {
              title: "",
              render: (t) =>
                !readOnly && (
                  <span className="row-actions">
                    <button aria-label={T.trunks.editOf(t.name)} onClick={() => (setTrunkNotice(null), setEditTrunk(t.name))}>
                      {T.mailboxes.edit}
                    </button>
                    <button
                      className="danger"
                      aria-label={T.trunks.deleteOf(t.name)}
                      onClick={async () => {
                        if (!window.confirm(T.trunks.confirmDelete(t.name))) return;
                        try {
                          await del(`/trunks/${encodeURIComponent(t.name)}`);
                          trunkDone(T.trunks.deleted(t.name));
                        } catch (x) {
                          setTrunkNotice({ ok: false, text: errorText(x) }); // in use: the API names the numbers
                        }
                      }}
                    >
                      {T.common.delete}
                    </button>
                  </span>
                ),
            },
          ]}
        />
      </section>
    </Page>
  );
}
