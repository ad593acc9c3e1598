// Dashboard, office-hours schedules and settings.
import { useCallback, useEffect, useState } from "react";
import { formatIntervals, parseIntervals } from "../editor/SchemaForm";
import { ApiError, errorText, fieldErrors, post, put } from "../lib/api";
import { sentence } from "../lib/messages";
import { useLiveEvents } from "../lib/events";
import { T } from "../lib/text";
import { useApi, usePoll } from "../lib/useApi";
import { Page } from "./common";
import { ConfigFile } from "./ConfigFile";

function Tile(props: { label: string; value: string | number; testId: string; href: string }) {
  return (
    <a className="tile card" href={props.href} data-testid={props.testId}>
      <span className="tile-value">{props.value}</span>
      <span className="tile-label">{props.label}</span>
    </a>
  );
}

export function Dashboard() {
  const exts = useApi<{ registered: boolean }[]>("/extensions");
  const calls = useApi<unknown[]>("/calls");
  const queues = useApi<{ live: { waiting?: unknown[] } | null }[]>("/queues");
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  const today = useApi<unknown[]>(`/history?limit=500&since=${encodeURIComponent(midnight.toISOString())}`);
  const reloadAll = useCallback(() => {
    exts.reload();
    calls.reload();
    queues.reload();
    today.reload();
  }, [exts.reload, calls.reload, queues.reload, today.reload]);
  usePoll(reloadAll, 3000);
  useLiveEvents(useCallback(() => reloadAll(), [reloadAll]));
  const registered = exts.data?.filter((e) => e.registered).length ?? 0;
  const waiting = (queues.data ?? []).reduce((n, q) => n + (q.live?.waiting?.length ?? 0), 0);
  return (
    <Page title={T.dashboard.title}>
      <div className="tiles">
        <Tile
          testId="tile-registered"
          href="#/extensions"
          label={T.dashboard.registered}
          value={exts.data ? `${registered} / ${exts.data.length}` : "…"}
        />
        <Tile testId="tile-calls" href="#/calls" label={T.dashboard.activeCalls} value={calls.error ? "—" : (calls.data?.length ?? "…")} />
        <Tile testId="tile-waiting" href="#/queues" label={T.dashboard.waiting} value={queues.data ? waiting : "…"} />
        <Tile testId="tile-today" href="#/history" label={T.dashboard.today} value={today.data?.length ?? "…"} />
      </div>
    </Page>
  );
}

interface Schedule {
  name: string;
  timezone: string;
  hours: Record<string, string[][]>;
  holidays: (string | { date: string; hours: string[][] })[];
}

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const HOURS_TEXT = /^\d{2}:\d{2}\s*-\s*\d{2}:\d{2}(\s*,\s*\d{2}:\d{2}\s*-\s*\d{2}:\d{2})*$/;

export function formatHolidays(h: Schedule["holidays"]): string {
  return h
    .map((x) => (typeof x === "string" ? x : `${x.date} ${formatIntervals(x.hours)}`.trim()))
    .join("\n");
}

export function parseHolidays(text: string): Schedule["holidays"] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [date, ...rest] = l.split(/\s+/);
      const hours = parseIntervals(rest.join(" "));
      return hours.length ? { date, hours } : date;
    });
}

function ScheduleEditor(props: { schedule: Schedule; readOnly: boolean; onSaved: () => void }) {
  const s = props.schedule;
  const [tz, setTz] = useState(s.timezone);
  const [days, setDays] = useState<Record<string, string>>(
    Object.fromEntries(DAYS.map((d) => [d, formatIntervals(s.hours[d])])),
  );
  const [holidays, setHolidays] = useState(formatHolidays(s.holidays));
  const [msg, setMsg] = useState("");
  const [err, setErr] = useState("");
  // Problems next to their field: "hours.mon" → "Enter a time like 09:00".
  const [fieldErr, setFieldErr] = useState<Record<string, string>>({});
  return (
    <form
      className="card schedule"
      aria-label={T.schedules.scheduleOf(s.name)}
      onSubmit={async (e) => {
        e.preventDefault();
        setErr("");
        setMsg("");
        setFieldErr({});
        const hours: Record<string, string[][]> = {};
        for (const d of DAYS) if (days[d].trim()) hours[d] = parseIntervals(days[d]);
        try {
          await put(`/schedules/${encodeURIComponent(s.name)}`, {
            timezone: tz,
            hours,
            holidays: parseHolidays(holidays),
          });
          setMsg(T.common.saved);
          props.onSaved();
        } catch (x) {
          const by: Record<string, string> = {};
          if (x instanceof ApiError && Array.isArray(x.details)) {
            for (const d of x.details as { path?: string; message?: string }[]) {
              const parts = String(d.path ?? "").split(".").slice(1); // drop "body"
              let key = parts[0] ?? "";
              let text = sentence(String(d.message ?? ""), parts.join("."));
              if (key === "hours") {
                // the day the server names, else the first day that is not "HH:MM-HH:MM, ..."
                const day = parts[1] ?? DAYS.find((x) => days[x].trim() && !HOURS_TEXT.test(days[x].trim()));
                key = `hours.${day ?? "mon"}`;
                if (parts.length > 3 || text === "This is required") text = T.schedules.enterRange;
              }
              if (!(key in by)) by[key] = text;
            }
          }
          setFieldErr(by);
          setErr(Object.keys(by).length ? T.common.fixFields : errorText(x));
        }
      }}
    >
      <h2>{s.name}</h2>
      <label htmlFor={`tz-${s.name}`}>{T.schedules.timezone}</label>
      <input
        id={`tz-${s.name}`}
        value={tz}
        disabled={props.readOnly}
        aria-invalid={fieldErr.timezone ? true : undefined}
        onChange={(e) => setTz(e.target.value)}
      />
      {fieldErr.timezone && <div className="problem">{fieldErr.timezone}</div>}
      <fieldset>
        <legend>{T.schedules.week}</legend>
        {DAYS.map((d) => (
          <div key={d}>
            <label className="day">
              <span>{d}</span>
              <input
                aria-label={T.schedules.hoursOn(s.name, d)}
                aria-invalid={fieldErr[`hours.${d}`] ? true : undefined}
                aria-describedby={fieldErr[`hours.${d}`] ? `hours-${s.name}-${d}-problem` : undefined}
                placeholder={T.schedules.closed}
                value={days[d]}
                disabled={props.readOnly}
                onChange={(e) => setDays({ ...days, [d]: e.target.value })}
              />
            </label>
            {fieldErr[`hours.${d}`] && (
              <div className="problem" id={`hours-${s.name}-${d}-problem`} data-testid={`problem-${d}`}>
                {fieldErr[`hours.${d}`]}
              </div>
            )}
          </div>
        ))}
      </fieldset>
      <label htmlFor={`hol-${s.name}`}>{T.schedules.holidays}</label>
      <textarea
        id={`hol-${s.name}`}
        rows={3}
        value={holidays}
        disabled={props.readOnly}
        placeholder={T.schedules.holidaysExample}
        onChange={(e) => setHolidays(e.target.value)}
      />
      {fieldErr.holidays && <div className="problem">{fieldErr.holidays}</div>}
      {err && (
        <div className="error" role="alert">
          {err}
        </div>
      )}
      {msg && <div role="status">{msg}</div>}
      {!props.readOnly && <button className="primary">{T.common.save}</button>}
    </form>
  );
}

export function Schedules({ readOnly }: { readOnly: boolean }) {
  const { data, error, reload } = useApi<Schedule[]>("/schedules");
  const [name, setName] = useState("");
  const [err, setErr] = useState("");
  return (
    <Page title={T.schedules.title}>
      {!readOnly && (
        <form
          className="inline"
          onSubmit={async (e) => {
            e.preventDefault();
            try {
              await post("/schedules", { name, timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" });
              setName("");
              setErr("");
              reload();
            } catch (x) {
              setErr(errorText(x));
            }
          }}
        >
          <label htmlFor="new-schedule">{T.schedules.newName}</label>
          <input id="new-schedule" value={name} onChange={(e) => setName(e.target.value)} required />
          <button className="primary">{T.common.create}</button>
        </form>
      )}
      {(error || err) && (
        <div className="error" role="alert">
          {error || err}
        </div>
      )}
      <div className="schedules">
        {(data ?? []).map((s) => (
          <ScheduleEditor key={s.name} schedule={s} readOnly={readOnly} onSaved={reload} />
        ))}
      </div>
    </Page>
  );
}

export function Settings({ readOnly }: { readOnly: boolean }) {
  const { data, error } = useApi<Record<string, unknown>>("/settings");
  const [values, setValues] = useState<Record<string, unknown>>({});
  const [msg, setMsg] = useState("");
  const [err, setErr] = useState("");
  const [fieldErr, setFieldErr] = useState<Record<string, string>>({});
  useEffect(() => {
    if (data) setValues(data);
  }, [data]);
  return (
    <Page title={T.settings.title}>
      {error && (
        <div className="error" role="alert">
          {error}
        </div>
      )}
      <form
        className="card settings-form"
        onSubmit={async (e) => {
          e.preventDefault();
          setErr("");
          setFieldErr({});
          try {
            setValues(await put<Record<string, unknown>>("/settings", values));
            setMsg(T.common.saved);
          } catch (x) {
            setMsg("");
            const by = fieldErrors(x);
            setFieldErr(by);
            setErr(Object.keys(by).length ? T.common.fixFields : errorText(x));
          }
        }}
      >
        {Object.entries(values).map(([k, v]) => (
          <div className="field" key={k}>
            <label htmlFor={`s-${k}`}>{T.settings.labels[k] ?? k.replace(/_/g, " ")}</label>
            {typeof v === "boolean" ? (
              <input id={`s-${k}`} type="checkbox" checked={v} disabled={readOnly} onChange={(e) => setValues({ ...values, [k]: e.target.checked })} />
            ) : (
              <input
                id={`s-${k}`}
                type={typeof v === "number" ? "number" : "text"}
                value={String(v ?? "")}
                disabled={readOnly}
                aria-invalid={fieldErr[k] ? true : undefined}
                aria-describedby={fieldErr[k] ? `s-${k}-problem` : undefined}
                onChange={(e) => setValues({ ...values, [k]: typeof v === "number" ? Number(e.target.value) : e.target.value })}
              />
            )}
            {fieldErr[k] && (
              <div className="problem" id={`s-${k}-problem`}>
                {fieldErr[k]}
              </div>
            )}
          </div>
        ))}
        {err && (
          <div className="error" role="alert">
            {err}
          </div>
        )}
        {msg && <div role="status">{msg}</div>}
        {!readOnly && <button className="primary">{T.common.save}</button>}
      </form>
      {!readOnly && <TestMail />}
      {!readOnly && <ConfigFile />}
    </Page>
  );
}

/** Email (SMTP): one test mail through the configured server; its answer (or why not) shown. */
function TestMail() {
  const [to, setTo] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState("");
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  return (
    <form
      className="card settings-form"
      aria-label={T.settings.mail}
      onSubmit={async (e) => {
        e.preventDefault();
        setProblem("");
        setResult(null);
        setBusy(true);
        try {
          const r = await post<{ to: string; server: string; sender: string }>("/settings/test-mail", { to });
          setResult({ ok: true, text: T.settings.testSent(r.to, r.server, r.sender) });
        } catch (x) {
          const by = fieldErrors(x);
          if (by.to) setProblem(by.to);
          else setResult({ ok: false, text: errorText(x) });
        } finally {
          setBusy(false);
        }
      }}
    >
      <h2>{T.settings.mail}</h2>
      <p className="muted">{T.settings.mailNote}</p>
      <div className={`field${problem ? " has-problem" : ""}`}>
        <label htmlFor="test-mail-to">{T.settings.testTo}</label>
        <input
          id="test-mail-to"
          type="text"
          value={to}
          aria-invalid={problem ? true : undefined}
          aria-describedby={problem ? "test-mail-to-problem" : undefined}
          onChange={(e) => setTo(e.target.value)}
        />
        {problem && (
          <div className="problem" id="test-mail-to-problem">
            {problem}
          </div>
        )}
      </div>
      {result && (
        <div className={result.ok ? "banner ok" : "error"} role={result.ok ? "status" : "alert"}>
          {result.text}
        </div>
      )}
      <button className="primary" disabled={busy}>
        {busy ? T.settings.testSending : T.settings.testSend}
      </button>
    </form>
  );
}
