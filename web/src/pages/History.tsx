import { useState } from "react";
import { T } from "../lib/text";
import { useApi } from "../lib/useApi";
import { Page, Table, when } from "./common";

interface Call {
  id: number;
  started_at: string;
  caller: string;
  caller_name: string | null;
  did: string | null;
  flow: string | null;
  answered_by: string | null;
  outcome: string;
  direction: string | null;
  extension: string | null;
  duration_s: number | null;
  trace: { t: number; node: string; type: string; output: string | null; facts: object }[];
}

export function History() {
  const [number, setNumber] = useState("");
  const [outcome, setOutcome] = useState("");
  const [extension, setExtension] = useState("");
  const q = new URLSearchParams({ limit: "100" });
  if (number) q.set("number", number);
  if (extension) q.set("extension", extension);
  if (outcome) q.set("outcome", outcome);
  const { data, error } = useApi<Call[]>(`/history?${q}`);
  const [open, setOpen] = useState<number | null>(null);
  const call = data?.find((c) => c.id === open);
  return (
    <Page
      title={T.history.title}
      actions={
        <a className="button" href={`/api/v1/history.csv?${q}`} download>
          {T.history.csv}
        </a>
      }
    >
      <div className="inline filters">
        <label htmlFor="h-number">{T.history.number}</label>
        <input id="h-number" value={number} onChange={(e) => setNumber(e.target.value)} />
        <label htmlFor="h-extension">{T.history.extension}</label>
        <input id="h-extension" value={extension} onChange={(e) => setExtension(e.target.value)} />
        <label htmlFor="h-outcome">{T.history.outcome}</label>
        <input id="h-outcome" value={outcome} onChange={(e) => setOutcome(e.target.value)} />
      </div>
      <Table
        label={T.history.title}
        rows={data}
        error={error}
        rowKey={(c) => String(c.id)}
        columns={[
          { title: T.history.when, render: (c) => when(c.started_at) },
          {
            title: T.history.direction,
            render: (c) => (c.direction ? (T.history.directions[c.direction] ?? c.direction) : ""),
          },
          {
            title: T.history.from,
            // an outgoing call: the extension that dialled, then the number it presented
            render: (c) =>
              c.direction === "outbound" && c.extension
                ? `${c.extension} (${c.caller})`
                : `${c.caller_name ?? ""} ${c.caller}`.trim(),
          },
          { title: T.history.to, render: (c) => c.did ?? "" },
          { title: T.col.flow, render: (c) => c.flow ?? "" },
          { title: T.history.outcome, render: (c) => c.outcome + (c.answered_by ? ` (${c.answered_by})` : "") },
          { title: T.history.duration, render: (c) => (c.duration_s != null ? T.common.seconds(c.duration_s.toFixed(0)) : "") },
          {
            title: T.history.trace,
            render: (c) => (
              <button className="link" onClick={() => setOpen(open === c.id ? null : c.id)}>
                {T.history.trace}
              </button>
            ),
          },
        ]}
      />
      {call && (
        <section className="card" aria-label={T.history.trace}>
          <h2>
            {T.history.trace} — {call.caller} → {call.did}
          </h2>
          <ol className="trace">
            {call.trace.map((e, i) => (
              <li key={i}>
                <code>{e.t.toFixed(1)}s</code> <strong>{e.node}</strong> ({e.type})
                {e.output ? ` → ${e.output}` : ""} <span className="facts">{JSON.stringify(e.facts)}</span>
              </li>
            ))}
          </ol>
        </section>
      )}
    </Page>
  );
}
