// Live pages: active calls, queues.
import { useCallback, useState } from "react";
import { del, errorText, post } from "../lib/api";
import { useLiveEvents } from "../lib/events";
import { T } from "../lib/text";
import { useApi, usePoll } from "../lib/useApi";
import { Page, Table, when } from "./common";

interface ActiveCall {
  id: string;
  caller: string;
  caller_name: string | null;
  did: string | null;
  flow: string | null;
  started_at: string;
  answered_by: string | null;
  activity?: string | null;
  activity_target?: string | null;
}

/** What a live call is doing now, as words ("In voicemail (box 100)", "Ringing 101"). */
export function activityText(c: ActiveCall): string {
  const t = c.activity_target ?? "";
  switch (c.activity) {
    case "ringing":
      return T.calls.activity.ringing(t);
    case "talking":
      return T.calls.activity.talking(t || c.answered_by || "");
    case "voicemail":
      return T.calls.activity.voicemail(t);
    case "queue":
      return T.calls.activity.queue(t);
    case "flow":
      return c.answered_by ? T.calls.activity.talking(c.answered_by) : T.calls.activity.flow;
    default:
      return c.answered_by ? T.calls.activity.talking(c.answered_by) : T.calls.activity.flow;
  }
}

export function ActiveCalls({ readOnly }: { readOnly: boolean }) {
  const { data, error, reload } = useApi<ActiveCall[]>("/calls");
  usePoll(reload, 2000);
  useLiveEvents(
    useCallback((e) => {
      if (e.type.startsWith("call.")) reload();
    }, [reload]),
  );
  const [supervisor, setSupervisor] = useState("");
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const act = async (fn: () => Promise<unknown>, done: string) => {
    try {
      await fn();
      setMsg({ ok: true, text: done });
      reload();
    } catch (e) {
      setMsg({ ok: false, text: errorText(e) });
    }
  };
  return (
    <Page title={T.calls.title}>
      {!readOnly && (
        <div className="inline">
          <label htmlFor="supervisor">{T.calls.supervisor}</label>
          <input
            id="supervisor"
            value={supervisor}
            aria-describedby="supervisor-hint"
            onChange={(e) => setSupervisor(e.target.value)}
          />
          <span id="supervisor-hint" className="muted">
            {supervisor ? T.calls.supervisorSet(supervisor) : T.calls.supervisorHint}
          </span>
        </div>
      )}
      {msg && (
        <div className={msg.ok ? "banner ok" : "banner error"} role={msg.ok ? "status" : "alert"}>
          {msg.text}
        </div>
      )}
      <Table
        label={T.calls.title}
        rows={data}
        error={error}
        rowKey={(c) => c.id}
        columns={[
          { title: T.col.started, render: (c) => when(c.started_at) },
          { title: T.col.caller, render: (c) => `${c.caller_name ?? ""} ${c.caller}`.trim() },
          { title: T.col.to, render: (c) => c.did ?? "" },
          { title: T.col.flow, render: (c) => c.flow ?? "" },
          { title: T.col.now, render: (c) => <span data-testid={`activity-${c.id}`}>{activityText(c)}</span> },
          {
            title: "",
            render: (c) =>
              !readOnly && (
                <span className="row-actions">
                  {(["listen", "whisper", "barge"] as const).map((mode) => (
                    <button
                      key={mode}
                      disabled={!supervisor}
                      title={supervisor ? undefined : T.calls.supervisorHint}
                      aria-describedby="supervisor-hint"
                      onClick={() =>
                        act(() => post(`/calls/${encodeURIComponent(c.id)}/spy`, { supervisor, mode }), T.calls.spying(T.calls.modes[mode], supervisor))
                      }
                    >
                      {T.calls.modes[mode]}
                    </button>
                  ))}
                  <button className="danger" onClick={() => act(() => del(`/calls/${encodeURIComponent(c.id)}`), T.calls.hungUp)}>
                    {T.calls.hangup}
                  </button>
                </span>
              ),
          },
        ]}
      />
    </Page>
  );
}
