import { useState } from "react";
import { ApiError, errorText, post } from "../lib/api";
import { T } from "../lib/text";

export interface User {
  username: string;
  role: string;
}

export function Login({ onLogin }: { onLogin: (u: User) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  return (
    <main className="login">
      <form
        className="card"
        aria-labelledby="login-title"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError("");
          try {
            // the answer sets the session cookie; its token is for API clients, not kept
            const r = await post<{ user: User }>("/auth/login", { username, password });
            onLogin(r.user);
          } catch (err) {
            setError(err instanceof ApiError && err.status === 401 ? T.login.failed : errorText(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1 id="login-title">{T.login.title}</h1>
        <label htmlFor="username">{T.login.username}</label>
        <input
          id="username"
          autoComplete="username"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          required
        />
        <label htmlFor="password">{T.login.password}</label>
        <input
          id="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
        />
        {error && (
          <div className="error" role="alert">
            {error}
          </div>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {T.login.submit}
        </button>
      </form>
    </main>
  );
}
