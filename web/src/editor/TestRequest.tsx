// The "test request" button of the HTTP notification and caller lookup panels: the PBX sends
// the element's request once with sample call facts and shows what came back.
import { useState } from "react";
import { errorText, post } from "../lib/api";
import { T } from "../lib/text";
import type { FlowNode } from "./types";

export const TESTABLE_TYPES = ["http_notify", "caller_lookup"];

export interface TestResult {
  method: string;
  url: string;
  request_body: string | null;
  status: number | null;
  elapsed_ms: number;
  body: string;
  output: string;
  error: string | null;
  caller_name: string | null;
}

/** One line summing the result up: "200 in 12 ms → output 2". */
export function summary(r: TestResult): string {
  const status = r.status === null ? T.testRequest.noReply : `${T.testRequest.status} ${r.status}`;
  return `${status} · ${Math.round(r.elapsed_ms)} ms · ${T.testRequest.output} ${r.output}`;
}

export function TestRequest(props: { node: FlowNode; flow: string }) {
  const [caller, setCaller] = useState("+15555550100");
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<TestResult | null>(null);
  const [error, setError] = useState("");
  const run = async () => {
    setBusy(true);
    setError("");
    setResult(null);
    try {
      setResult(
        await post<TestResult>("/flows/test-request", {
          node: { type: props.node.type, params: props.node.params, next: props.node.next },
          flow: props.flow,
          caller,
        }),
      );
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="test-request" aria-label={T.testRequest.title}>
      <h3>{T.testRequest.title}</h3>
      <p className="muted">{T.testRequest.hint}</p>
      <div className="field">
        <label htmlFor="test-caller">{T.testRequest.caller}</label>
        <input id="test-caller" value={caller} onChange={(e) => setCaller(e.target.value)} />
      </div>
      <button type="button" onClick={() => void run()} disabled={busy}>
        {busy ? T.testRequest.sending : T.testRequest.send}
      </button>
      {error && (
        <div className="error" role="alert">
          {error}
        </div>
      )}
      {result && (
        <div className="test-result" role="status" data-testid="test-result">
          <p className={result.status !== null && result.status < 300 ? "ok" : "bad"}>
            <strong>{summary(result)}</strong>
          </p>
          <dl>
            <dt>{T.testRequest.request}</dt>
            <dd>
              <code>
                {result.method} {result.url}
              </code>
            </dd>
            {result.caller_name !== null && (
              <>
                <dt>{T.testRequest.callerName}</dt>
                <dd data-testid="test-caller-name">{result.caller_name}</dd>
              </>
            )}
            {result.error && (
              <>
                <dt>{T.testRequest.error}</dt>
                <dd className="problem">{result.error}</dd>
              </>
            )}
            <dt>{T.testRequest.reply}</dt>
            <dd>
              <pre data-testid="test-body">{result.body || T.testRequest.emptyBody}</pre>
            </dd>
          </dl>
        </div>
      )}
    </section>
  );
}
