import { useEffect, useRef, useState } from "react";
import { FlowEditor } from "./editor/FlowEditor";
import { UNAUTHORIZED_EVENT, get, post } from "./lib/api";
import { ErrorBoundary } from "./lib/ErrorBoundary";
import { confirmLeaving } from "./lib/leaveGuard";
import { T } from "./lib/text";
import { Dashboard, Schedules, Settings } from "./pages/Admin";
import { AudioLibrary } from "./pages/Audio";
import { Extensions } from "./pages/Extensions";
import { Flows } from "./pages/Flows";
import { History } from "./pages/History";
import { ActiveCalls } from "./pages/Live";
import { NumbersTrunks } from "./pages/Numbers";
import { Queues } from "./pages/Queues";
import { Users } from "./pages/Users";
import { Login, type User } from "./pages/Login";
import { Voicemail } from "./pages/Voicemail";

// Routes live in the URL hash: #/flows, #/flows/Main%20line, #/extensions, ...
// A page with unsaved work (the flow editor) is asked first, also on Back/Forward: when the
// user stays, the browser returns to the page's entry. Each history entry carries its index
// (history.state.idx), so a refused Back or Forward is undone by going the other way.
function useHash(): [string, (h: string) => void] {
  const [hash, setHash] = useState(location.hash.slice(1) || "/flows");
  const current = useRef(hash);
  const index = useRef(0);
  useEffect(() => {
    const st = history.state as { idx?: unknown } | null;
    if (typeof st?.idx === "number") index.current = st.idx;
    else history.replaceState({ idx: 0 }, "");
    const on = () => {
      const next = location.hash.slice(1) || "/flows";
      if (next === current.current) return;
      const target = (history.state as { idx?: unknown } | null)?.idx;
      const traversal = typeof target === "number";
      if (!confirmLeaving()) {
        if (traversal) history.go(index.current - target);
        else history.back(); // a new entry (a link): back to this page's entry
        return;
      }
      if (traversal) index.current = target;
      else history.replaceState({ idx: ++index.current }, "");
      current.current = next;
      setHash(next);
    };
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return [hash, (h) => (location.hash = h)];
}

const NAV: [string, string][] = [
  ["/dashboard", T.nav.dashboard],
  ["/flows", T.nav.flows],
  ["/extensions", T.nav.extensions],
  ["/numbers", T.nav.numbers],
  ["/audio", T.nav.audio],
  ["/voicemail", T.nav.voicemail],
  ["/calls", T.nav.calls],
  ["/queues", T.nav.queues],
  ["/schedules", T.nav.schedules],
  ["/history", T.nav.history],
  ["/users", T.nav.users],
  ["/settings", T.nav.settings],
];

export function App() {
  const [user, setUser] = useState<User | null>(null);
  const [checked, setChecked] = useState(false);
  const [route, go] = useHash();

  useEffect(() => {
    get<User>("/auth/me")
      .then(setUser)
      .catch(() => setUser(null))
      .finally(() => setChecked(true));
    const out = () => setUser(null);
    window.addEventListener(UNAUTHORIZED_EVENT, out);
    return () => window.removeEventListener(UNAUTHORIZED_EVENT, out);
  }, []);

  if (!checked) return <div className="page">{T.common.loading}</div>;
  if (!user) return <Login onLogin={setUser} />;

  const readOnly = user.role !== "admin";
  const flowMatch = /^\/flows\/(.+)$/.exec(route);
  let page;
  if (flowMatch) {
    const name = decodeURIComponent(flowMatch[1]);
    page = <FlowEditor key={name} name={name} readOnly={readOnly} onBack={() => go("/flows")} />;
  } else if (route === "/extensions") page = <Extensions readOnly={readOnly} />;
  else if (route === "/numbers") page = <NumbersTrunks readOnly={readOnly} />;
  else if (route === "/audio") page = <AudioLibrary readOnly={readOnly} />;
  else if (route === "/voicemail") page = <Voicemail readOnly={readOnly} />;
  else if (route === "/calls") page = <ActiveCalls readOnly={readOnly} />;
  else if (route === "/queues") page = <Queues readOnly={readOnly} />;
  else if (route === "/history") page = <History />;
  else if (route === "/users") page = <Users user={user} />;
  else if (route === "/dashboard") page = <Dashboard />;
  else if (route === "/schedules") page = <Schedules readOnly={readOnly} />;
  else if (route === "/settings") page = <Settings readOnly={readOnly} />;
  else page = <Flows readOnly={readOnly} onOpen={(n) => go(`/flows/${encodeURIComponent(n)}`)} />;

  return (
    <div className="shell">
      <nav className="sidebar" aria-label={T.common.mainNav}>
        <div className="brand">{T.app}</div>
        <ul>
          {NAV.map(([path, label]) => (
            <li key={path}>
              <a href={`#${path}`} aria-current={route.startsWith(path) ? "page" : undefined}>
                {label}
              </a>
            </li>
          ))}
        </ul>
        <div className="who">
          {user.username} · {user.role}
          <button
            className="link"
            onClick={async () => {
              await post("/auth/logout").catch(() => undefined); // ends it on the server
              setUser(null);
            }}
          >
            {T.nav.logout}
          </button>
        </div>
      </nav>
      <div className="content">
        <ErrorBoundary key={route}>{page}</ErrorBoundary>
      </div>
    </div>
  );
}
