// Mailboxes: create, edit (name, PIN, email) and delete, with the API's rules; deleting a
// mailbox an extension uses shows the API's answer (which extensions).
import { useState } from "react";
import { del, errorText, fieldErrors, post, put } from "../lib/api";
import { T } from "../lib/text";
import { Table } from "./common";

export interface MailboxRow {
  number: string;
  name: string;
  pin_set: boolean;
  email: string[];
  messages: number;
  unheard: number;
}

const emails = (text: string) =>
  text
    .split(/[,\s]+/)
    .map((x) => x.trim())
    .filter(Boolean);

export function Field(props: {
  id: string;
  label: string;
  value: string;
  onChange: (v: string) => void;
  problem?: string;
  hint?: string;
  type?: string;
  required?: boolean;
  disabled?: boolean;
}) {
  const described = [props.problem ? `${props.id}-problem` : "", props.hint ? `${props.id}-hint` : ""]
    .filter(Boolean)
    .join(" ");
  return (
    <div className={`field${props.problem ? " has-problem" : ""}`}>
      <label htmlFor={props.id}>{props.label}</label>
      <input
        id={props.id}
        type={props.type ?? "text"}
        value={props.value}
        required={props.required}
        disabled={props.disabled}
        aria-invalid={props.problem ? true : undefined}
        aria-describedby={described || undefined}
        onChange={(e) => props.onChange(e.target.value)}
      />
      {props.hint && (
        <div className="muted" id={`${props.id}-hint`}>
          {props.hint}
        </div>
      )}
      {props.problem && (
        <div className="problem" id={`${props.id}-problem`}>
          {props.problem}
        </div>
      )}
    </div>
  );
}

function MailboxForm(props: {
  box: MailboxRow | null; // null: a new one
  onDone: (text: string) => void;
  onCancel: () => void;
}) {
  const b = props.box;
  const [number, setNumber] = useState(b?.number ?? "");
  const [name, setName] = useState(b?.name ?? "");
  const [pin, setPin] = useState("");
  const [noPin, setNoPin] = useState(false);
  const [email, setEmail] = useState((b?.email ?? []).join(", "));
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState("");
  const prefix = b ? `mb-${b.number}` : "mb-new";
  return (
    <form
      className="card mailbox-form"
      aria-label={b ? T.mailboxes.editOf(b.number) : T.mailboxes.create}
      onSubmit={async (e) => {
        e.preventDefault();
        setProblems({});
        setError("");
        try {
          if (b) {
            const body: Record<string, unknown> = { name, email: emails(email) };
            if (noPin) body.pin = null;
            else if (pin) body.pin = pin;
            await put(`/mailboxes/${encodeURIComponent(b.number)}`, body);
            props.onDone(T.mailboxes.saved(b.number));
          } else {
            await post("/mailboxes", { number, name, pin: pin || null, email: emails(email) });
            props.onDone(T.mailboxes.created(number));
          }
        } catch (x) {
          const by = fieldErrors(x);
          setProblems(by);
          setError(Object.keys(by).length ? T.common.fixFields : errorText(x));
        }
      }}
    >
      <h3>{b ? T.mailboxes.editOf(b.number) : T.mailboxes.create}</h3>
      {!b && (
        <Field id={`${prefix}-number`} label={T.mailboxes.number} value={number} onChange={setNumber} problem={problems.number} required />
      )}
      <Field id={`${prefix}-name`} label={T.mailboxes.name} value={name} onChange={setName} problem={problems.name} required />
      <Field
        id={`${prefix}-pin`}
        label={T.mailboxes.pin}
        value={pin}
        onChange={setPin}
        problem={problems.pin}
        hint={b ? `${T.mailboxes.pinHint}; ${T.mailboxes.pinKeep}` : T.mailboxes.pinHint}
        disabled={noPin}
        type="password"
      />
      {b?.pin_set && (
        <label className="check">
          <input type="checkbox" checked={noPin} onChange={(e) => setNoPin(e.target.checked)} /> {T.mailboxes.removePin}
        </label>
      )}
      <Field id={`${prefix}-email`} label={T.mailboxes.email} value={email} onChange={setEmail} problem={problems.email} />
      {error && (
        <div className="error" role="alert">
          {error}
        </div>
      )}
      <div className="row-actions">
        <button className="primary" type="submit">
          {b ? T.common.save : T.mailboxes.create}
        </button>
        <button type="button" onClick={props.onCancel}>
          {T.common.cancel}
        </button>
      </div>
    </form>
  );
}

export function Mailboxes(props: {
  rows: MailboxRow[] | null;
  error: string;
  readOnly: boolean;
  reload: () => void;
}) {
  const [editing, setEditing] = useState<string | null>(null); // number, "" = new
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const done = (text: string) => {
    setEditing(null);
    setNotice({ ok: true, text });
    props.reload();
  };
  return (
    <section aria-label={T.mailboxes.title}>
      <header className="page-head">
        <h2>{T.mailboxes.title}</h2>
        {!props.readOnly && editing === null && (
          <button onClick={() => (setNotice(null), setEditing(""))}>{T.mailboxes.create}</button>
        )}
      </header>
      <p className="muted">{T.mailboxes.greetingNote}</p>
      {notice && (
        <div className={notice.ok ? "banner ok" : "error"} role={notice.ok ? "status" : "alert"}>
          {notice.text}
        </div>
      )}
      {editing !== null && (
        <MailboxForm
          key={editing}
          box={props.rows?.find((r) => r.number === editing) ?? null}
          onDone={done}
          onCancel={() => setEditing(null)}
        />
      )}
      <Table
        label={T.mailboxes.title}
        rows={props.rows}
        error={props.error}
        rowKey={(b) => `mailbox-${b.number}`}
        columns={[
          { title: T.col.number, render: (b) => b.number },
          { title: T.col.name, render: (b) => b.name },
          { title: T.mailboxes.pin, render: (b) => (b.pin_set ? T.mailboxes.pinSet : T.mailboxes.noPin) },
          { title: T.col.email, render: (b) => b.email.join(", ") },
          { title: T.mailboxes.messages, render: (b) => `${b.messages}${b.unheard ? ` ${T.voicemail.unheard(b.unheard)}` : ""}` },
          {
            title: "",
            render: (b) =>
              !props.readOnly && (
                <span className="row-actions">
                  <button aria-label={T.mailboxes.editOf(b.number)} onClick={() => (setNotice(null), setEditing(b.number))}>
                    {T.mailboxes.edit}
                  </button>
                  <button
                    className="danger"
                    aria-label={T.mailboxes.deleteOf(b.number)}
                    onClick={async () => {
                      if (!window.confirm(T.mailboxes.confirmDelete(b.number, b.messages))) return;
                      try {
                        await del(`/mailboxes/${encodeURIComponent(b.number)}`);
                        done(T.mailboxes.deleted(b.number));
                      } catch (x) {
                        setNotice({ ok: false, text: errorText(x) }); // in use: the API says by what
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
  );
}
