// Simulate a call through the flow being edited: the path lights up step by step.
import { useEffect, useState } from "react";
import { errorText, get, post } from "../lib/api";
import { T } from "../lib/text";
import type { FlowDoc, TraceEntry } from "./types";

export interface SimResult {
  outcome: string;
  reason: string;
  answered_by: string | null;
  timezone?: string | null;
  path?: string[];
  trace: TraceEntry[];
}

/** "a=b" lines to an object; values that look like integers become numbers. */
export function parsePairs(text: string, numbers = false): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = {};
  for (const line of text.split("\n")) {
    const [k, ...rest] = line.split("=");
    if (!k.trim() || !rest.length) continue;
    const v = rest.join("=").trim();
    if (numbers && v === "timeout") out[k.trim()] = null;
    else if (numbers && /^[0-9]{3}$/.test(v)) out[k.trim()] = Number(v);
    else out[k.trim()] = v;
  }
  return out;
}

/** Now as "YYYY-MM-DDTHH:MM" on the wall clock of `zone`. */
export function nowIn(zone: string, d = new Date()): string {
  try {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat("en-GB", {
        timeZone: zone,
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      })
        .formatToParts(d)
        .map((p) => [p.type, p.value]),
    );
    return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
  } catch {
    return d.toISOString().slice(0, 16);
  }
}

/** How the simulated call ended, as a sentence; `problem` only for endings that are faults. */
export function describeOutcome(r: SimResult): { text: string; problem: boolean } {
  const end = [...r.trace].reverse().find((e) => e.type === "end");
  const unconnected = end?.output != null && /is not connected$/.test(r.reason);
  const at = end?.node ? ` after ${end.node}` : "";
  switch (r.outcome) {
    case "answered":
      return {
        text: r.answered_by ? T.sim.answeredBy(r.answered_by) : T.sim.answered,
        problem: false,
      };
    case "hangup":
      if (unconnected) return { text: T.sim.endsAfter(end?.node ?? "", end?.output ?? ""), problem: false };
      return { text: T.sim.hungUp + at, problem: false };
    case "caller_hangup":
      return { text: T.sim.callerHungUp + at, problem: false };
    case "step_limit":
      return { text: T.sim.loops(r.reason), problem: true };
    default:
      return { text: `${r.outcome}${r.reason ? ` — ${r.reason}` : ""}`, problem: true };
  }
}

export function SimulatePanel(props: {
  flowName: string;
  doc: FlowDoc;
  onSteps: (steps: TraceEntry[]) => void;
  onClose: () => void;
}) {
  const [caller, setCaller] = useState("+37129999999");
  const firstNumbers = Object.values(props.doc.nodes).find((n) => n.type === "numbers");
  const [did, setDid] = useState(
    ((firstNumbers?.params.numbers as string[] | undefined) ?? [])[0] ?? "",
  );
  const [zone, setZone] = useState<string | null>(null);
  const [at, setAt] = useState("");
  useEffect(() => {
    let alive = true;
    get<{ timezone?: string }>("/settings")
      .then((s) => s.timezone || "UTC")
      .catch(() => "UTC")
      .then((z) => {
        if (!alive) return;
        setZone(z);
        setAt((a) => a || nowIn(z));
      });
    return () => {
      alive = false;
    };
  }, []);
  const [keys, setKeys] = useState("");
  const [http, setHttp] = useState("");
  const [answers, setAnswers] = useState("");
  const [result, setResult] = useState<SimResult | null>(null);
  const [shown, setShown] = useState(0);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  const run = async () => {
    setBusy(true);
    setError("");
    setResult(null);
    props.onSteps([]);
    try {
      const r = await post<SimResult>(`/flows/${encodeURIComponent(props.flowName)}/simulate`, {
        caller,
        did: did || undefined,
        // the wall time typed, without an offset: the server reads it in the company's zone
        at: at ? `${at}:00` : undefined,
        keys,
        http_replies: parsePairs(http, true),
        answers: parsePairs(answers),
        document: props.doc,
      });
      setResult(r);
      // Light the path one step at a time.
      const steps = r.trace.filter((e) => e.type !== "end");
      for (let i = 1; i <= steps.length; i++) {
        await new Promise((res) => setTimeout(res, 250));
        setShown(i);
        props.onSteps(steps.slice(0, i));
      }
      setShown(r.trace.length);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <aside className="side-panel sim-panel" aria-label={T.sim.title}>
      <header>
        <h2>{T.sim.title}</h2>
        <button type="button" className="icon-btn" aria-label={T.common.close} onClick={props.onClose}>
          ✕
        </button>
      </header>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <label>
          {T.sim.caller}
          <input name="caller" value={caller} onChange={(e) => setCaller(e.target.value)} />
        </label>
        <label>
          {T.sim.did}
          <input name="did" value={did} onChange={(e) => setDid(e.target.value)} />
        </label>
        <label>
          {zone ? T.sim.atIn(zone) : T.sim.at}
          <input name="at" type="datetime-local" value={at} onChange={(e) => setAt(e.target.value)} />
        </label>
        <label>
          {T.sim.keys}
          <input name="keys" value={keys} onChange={(e) => setKeys(e.target.value)} placeholder="1#" />
        </label>
        <label>
          {T.sim.http}
          <textarea name="http" rows={2} value={http} onChange={(e) => setHttp(e.target.value)} />
        </label>
        <label>
          {T.sim.answers}
          <textarea
            name="answers"
            rows={2}
            value={answers}
            onChange={(e) => setAnswers(e.target.value)}
          />
        </label>
        <button type="submit" className="primary" disabled={busy}>
          {T.sim.run}
        </button>
      </form>
      {error && (
        <div className="error" role="alert">
          {error}
        </div>
      )}
      {result && (
        <div className="sim-result">
          <p
            className={describeOutcome(result).problem ? "error" : "ok"}
            role={describeOutcome(result).problem ? "alert" : "status"}
            data-testid="sim-summary"
          >
            {T.sim.outcome}: <strong data-testid="sim-outcome">{result.outcome}</strong>
            {" — "}
            {describeOutcome(result).text}
          </p>
          {result.timezone && <p className="muted">{T.sim.timesIn(result.timezone)}</p>}
          <h3>{T.sim.trace}</h3>
          <ol className="trace" data-testid="sim-trace">
            {result.trace.slice(0, shown).map((e, i) => (
              <li key={i}>
                <code>{e.t.toFixed(1)}s</code> <strong>{e.node}</strong>
                {e.output ? ` → ${e.output}` : ""}
                {Object.keys(e.facts).length > 0 && (
                  <span className="facts"> {JSON.stringify(e.facts)}</span>
                )}
              </li>
            ))}
          </ol>
        </div>
      )}
    </aside>
  );
}
