// Users and API tokens. Admins add web users (admin or viewer), reset their passwords and
// delete them; everyone manages their own API tokens (viewers only see theirs).
import { useState } from "react";
import { del, errorText, post, put } from "../lib/api";
import { T } from "../lib/text";
import { useApi } from "../lib/useApi";
import { Page, Table, when } from "./common";

interface WebUser {
  username: string;
  role: "admin" | "viewer";
  created_at: string | null;
}

interface Token {
  id: number;
  name: string;
  created_at: string;
}

type Me = { username: string; role: string };

const MIN_PASSWORD = 10; // the API's policy (api/auth.py); the API has the last word

function Feedback(props: { ok: string; error: string }) {
  return (
    <>
      {props.ok && (
        <div className="banner ok" role="status">
          {props.ok}
        </div>
      )}
      {props.error && (
        <div className="error" role="alert">
          {props.error}
        </div>
      )}
    </>
  );
}

function ResetPassword(props: { user: string; onDone: (msg: string) => void; onError: (e: string) => void }) {
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState("");
  if (!open)
    return (
      <button onClick={() => setOpen(true)} aria-label={`${T.users.resetPassword}: ${props.user}`}>
        {T.users.resetPassword}
      </button>
    );
  return (
    <form
      className="inline compact"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          await put(`/users/${encodeURIComponent(props.user)}/password`, { password });
          setOpen(false);
          setPassword("");
          props.onDone(T.users.passwordSet(props.user));
        } catch (x) {
          props.onError(errorText(x));
        }
      }}
    >
      <input
        type="password"
        autoComplete="new-password"
        aria-label={T.users.resetFor(props.user)}
        placeholder={T.users.passwordHint}
        minLength={MIN_PASSWORD}
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        required
      />
      <button className="primary">{T.users.setPassword}</button>
      <button type="button" onClick={() => setOpen(false)}>
        {T.common.cancel}
      </button>
    </form>
  );
}

function WebUsers({ me }: { me: Me }) {
  const { data, error, reload } = useApi<WebUser[]>("/users");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<"admin" | "viewer">("viewer");
  const [ok, setOk] = useState("");
  const [err, setErr] = useState("");
  const done = (msg: string) => {
    setOk(msg);
    setErr("");
    reload();
  };
  const failed = (msg: string) => {
    setErr(msg);
    setOk("");
  };
  return (
    <section aria-labelledby="users-h">
      <h2 id="users-h">{T.users.users}</h2>
      <form
        className="inline"
        aria-label={T.users.create}
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            await post("/users", { username, password, role });
            setUsername("");
            setPassword("");
            done(T.users.created(username));
          } catch (x) {
            failed(errorText(x));
          }
        }}
      >
        <label htmlFor="new-user">{T.users.username}</label>
        <input
          id="new-user"
          autoComplete="off"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          required
        />
        <label htmlFor="new-user-password">{T.users.password}</label>
        <input
          id="new-user-password"
          type="password"
          autoComplete="new-password"
          placeholder={T.users.passwordHint}
          minLength={MIN_PASSWORD}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
        <label htmlFor="new-user-role">{T.users.role}</label>
        <select id="new-user-role" value={role} onChange={(e) => setRole(e.target.value as "admin" | "viewer")}>
          <option value="viewer">{T.users.roles.viewer}</option>
          <option value="admin">{T.users.roles.admin}</option>
        </select>
        <button className="primary">{T.users.create}</button>
      </form>
      <Feedback ok={ok} error={err} />
      <Table
        label={T.users.users}
        rows={data}
        error={error}
        rowKey={(u) => `user-${u.username}`}
        columns={[
          {
            title: T.users.username,
            render: (u) => (
              <>
                {u.username} {u.username === me.username && <span className="muted">{T.users.you}</span>}
              </>
            ),
          },
          { title: T.users.role, render: (u) => u.role },
          { title: T.col.created, render: (u) => when(u.created_at) },
          {
            title: "",
            render: (u) => (
              <span className="row-actions">
                <ResetPassword user={u.username} onDone={done} onError={failed} />
                {u.username !== me.username && (
                  <button
                    className="danger"
                    aria-label={T.users.remove(u.username)}
                    onClick={async () => {
                      if (!window.confirm(T.users.confirmRemove(u.username))) return;
                      try {
                        await del(`/users/${encodeURIComponent(u.username)}`);
                        done(T.users.removed(u.username));
                      } catch (x) {
                        failed(errorText(x));
                      }
                    }}
                  >
                    {T.common.delete}
                  </button>
                )}
              </span>
            ),
          },
        ]}
      />
    </section>
  );
}

function Tokens({ readOnly }: { readOnly: boolean }) {
  const { data, error, reload } = useApi<Token[]>("/tokens");
  const [name, setName] = useState("");
  const [shown, setShown] = useState("");
  const [msg, setMsg] = useState("");
  return (
    <section aria-labelledby="tokens-h">
      <h2 id="tokens-h">{T.users.tokens}</h2>
      {!readOnly && (
        <form
          className="inline"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              const t = await post<{ token: string }>("/tokens", { name });
              setShown(t.token);
              setName("");
              reload();
            } catch (err) {
              setMsg(errorText(err));
            }
          }}
        >
          <label htmlFor="token-name">{T.users.tokenName}</label>
          <input id="token-name" value={name} onChange={(e) => setName(e.target.value)} required />
          <button className="primary">{T.common.create}</button>
        </form>
      )}
      {shown && (
        <div className="banner ok">
          {T.users.newToken} <code>{shown}</code>
        </div>
      )}
      {msg && (
        <div className="error" role="alert">
          {msg}
        </div>
      )}
      <Table
        label={T.users.tokens}
        rows={data}
        error={error}
        rowKey={(t) => `token-${t.id}`}
        columns={[
          { title: T.col.name, render: (t) => t.name },
          { title: T.col.created, render: (t) => when(t.created_at) },
          {
            title: "",
            render: (t) =>
              !readOnly && (
                <button
                  className="danger"
                  onClick={async () => {
                    await del(`/tokens/${t.id}`).catch((e) => setMsg(errorText(e)));
                    reload();
                  }}
                >
                  {T.users.revoke}
                </button>
              ),
          },
        ]}
      />
    </section>
  );
}

export function Users({ user }: { user: Me }) {
  const admin = user.role === "admin";
  return (
    <Page title={T.users.title}>
      <p>
        {T.users.signedInAs} <strong>{user.username}</strong> ({user.role})
      </p>
      {admin ? <WebUsers me={user} /> : <p className="muted">{T.users.viewerNote}</p>}
      <Tokens readOnly={!admin} />
    </Page>
  );
}
