// Queues: live state (callers waiting, members and their state) and, for admins, the stored
// configuration of each queue — members (extensions, with a penalty), strategy and settings —
// created, edited and deleted here (PUT/DELETE /api/v1/queues/{name}).
import { useState } from "react";
import { ApiError, del, errorText, fieldErrors, put } from "../lib/api";
import { sentence } from "../lib/messages";
import { T } from "../lib/text";
import { useApi, usePoll } from "../lib/useApi";
import { Field } from "./Mailboxes";
import { Page, Table } from "./common";

interface Member {
  extension: string;
  penalty?: number;
}

export interface QueueRow {
  name: string;
  source: "stored" | "flow";
  flows: string[];
  strategy: string;
  members: (Member | string)[];
  settings: Record<string, unknown>;
  live: { waiting?: unknown[]; members?: { extension: string; state: string }[] } | null;
}

const STRATEGIES = ["ring_all", "fewest_calls", "least_recent", "round_robin", "linear", "random"];
const NUMBERS = ["member_timeout_s", "retry_s", "wrapup_s", "max_wait_s", "max_callers", "announce_position_s"] as const;
const DEFAULT_HOLD = "hold-music"; // the element's default (a built-in sample)
const KEYS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"];

const memberOf = (m: Member | string): Member =>
  typeof m === "string" ? { extension: m, penalty: 0 } : { extension: m.extension, penalty: m.penalty ?? 0 };

function QueueForm(props: { queue: QueueRow | null; onDone: (text: string) => void; onCancel: () => void }) {
  const q = props.queue;
  const exts = useApi<{ number: string; name: string }[]>("/extensions").data ?? [];
  const audio = useApi<{ name: string }[]>("/audio").data ?? [];
  const [name, setName] = useState(q?.name ?? "");
  const [strategy, setStrategy] = useState(q?.strategy ?? "ring_all");
  const [members, setMembers] = useState<Member[]>((q?.members ?? []).map(memberOf));
  const s0 = q?.settings ?? {};
  const [nums, setNums] = useState<Record<string, string>>(
    Object.fromEntries(NUMBERS.map((k) => [k, s0[k] === undefined ? "" : String(s0[k])])),
  );
  const [joinEmpty, setJoinEmpty] = useState(s0.join_empty === true);
  const [holdAudio, setHoldAudio] = useState(typeof s0.hold_audio === "string" ? s0.hold_audio : "");
  const [exitKey, setExitKey] = useState(typeof s0.exit_key === "string" ? s0.exit_key : "");
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState("");
  const setMember = (i: number, m: Partial<Member>) =>
    setMembers((all) => all.map((x, j) => (j === i ? { ...x, ...m } : x)));
  const title = q ? T.queues.editOf(q.name) : T.queues.create;

  const submit = async () => {
    setProblems({});
    setError("");
    const settings: Record<string, unknown> = {};
    for (const k of NUMBERS) if (nums[k].trim() !== "") settings[k] = Number(nums[k]);
    if (joinEmpty) settings.join_empty = true;
    if (holdAudio) settings.hold_audio = holdAudio;
    if (exitKey) settings.exit_key = exitKey;
    const queueName = q?.name ?? name.trim();
    if (!queueName) return setProblems({ name: T.queues.name });
    try {
      await put(`/queues/${encodeURIComponent(queueName)}`, {
        strategy,
        members: members.filter((m) => m.extension).map((m) => ({ extension: m.extension, penalty: m.penalty ?? 0 })),
        settings,
      });
      props.onDone(T.queues.saved(queueName));
    } catch (x) {
      const by = fieldErrors(x);
      // settings are checked one by one: "body.settings.max_wait_s" belongs to that field
      if (x instanceof ApiError && Array.isArray(x.details))
        for (const d of x.details as { path?: string; message?: string }[]) {
          const m = /^body\.settings\.(\w+)/.exec(String(d.path ?? ""));
          if (m) by[`settings.${m[1]}`] = sentence(String(d.message ?? ""), m[1]);
        }
      setProblems(by);
      setError(Object.keys(by).length ? T.common.fixFields : errorText(x));
    }
  };

  return (
    <form
      className="card queue-form"
      aria-label={title}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <h3>{title}</h3>
      {!q && <Field id="q-name" label={T.queues.name} value={name} onChange={setName} hint={T.queues.nameHint} problem={problems.name} required />}
      <div className="field">
        <label htmlFor="q-strategy">{T.queues.strategy}</label>
        <select id="q-strategy" value={strategy} onChange={(e) => setStrategy(e.target.value)}>
          {STRATEGIES.map((s) => (
            <option key={s} value={s}>
              {T.queues.strategies[s]}
            </option>
          ))}
        </select>
      </div>
      <fieldset>
        <legend>{T.queues.members}</legend>
        <p className="muted">{T.queues.penaltyHint}</p>
        {members.map((m, i) => (
          <div className="inline compact" key={i} role="group" aria-label={T.queues.member(i + 1)}>
            <select aria-label={T.queues.extension(i + 1)} value={m.extension} onChange={(e) => setMember(i, { extension: e.target.value })}>
              <option value="">{T.queues.pick}</option>
              {[...exts.map((x) => x.number), ...(exts.some((x) => x.number === m.extension) || !m.extension ? [] : [m.extension])].map((n) => (
                <option key={n} value={n}>
                  {n} {exts.find((x) => x.number === n)?.name ?? ""}
                </option>
              ))}
            </select>
            <input
              type="number"
              min={0}
              max={100}
              aria-label={T.queues.penalty(i + 1)}
              value={m.penalty ?? 0}
              onChange={(e) => setMember(i, { penalty: Number(e.target.value) })}
            />
            <button type="button" aria-label={T.queues.removeMember(i + 1)} onClick={() => setMembers((all) => all.filter((_, j) => j !== i))}>
              ✕
            </button>
          </div>
        ))}
        {problems.members && <div className="problem">{problems.members}</div>}
        <button type="button" onClick={() => setMembers((all) => [...all, { extension: "", penalty: 0 }])}>
          {T.queues.addMember}
        </button>
      </fieldset>
      <fieldset>
        <legend>{T.queues.settings}</legend>
        {NUMBERS.map((k) => (
          <Field
            key={k}
            id={`q-${k}`}
            type="number"
            label={T.queues[k]}
            value={nums[k]}
            onChange={(v) => setNums((n) => ({ ...n, [k]: v }))}
            problem={problems[`settings.${k}`]}
          />
        ))}
        <label className="check">
          <input type="checkbox" checked={joinEmpty} onChange={(e) => setJoinEmpty(e.target.checked)} /> {T.queues.join_empty}
        </label>
        <div className="field">
          <label htmlFor="q-hold_audio">{T.queues.hold_audio}</label>
          <select id="q-hold_audio" value={holdAudio} onChange={(e) => setHoldAudio(e.target.value)}>
            <option value="">{DEFAULT_HOLD}</option>
            {audio
              .map((a) => a.name)
              .filter((n) => n !== DEFAULT_HOLD)
              .map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="q-exit_key">{T.queues.exit_key}</label>
          <select id="q-exit_key" value={exitKey} onChange={(e) => setExitKey(e.target.value)}>
            <option value="">{T.queues.noKey}</option>
            {KEYS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </div>
      </fieldset>
      {error && (
        <div className="error" role="alert">
          {error}
        </div>
      )}
      <div className="row-actions">
        <button className="primary" type="submit">
          {q ? T.common.save : T.queues.create}
        </button>
        <button type="button" onClick={props.onCancel}>
          {T.common.cancel}
        </button>
      </div>
    </form>
  );
}

export function Queues({ readOnly }: { readOnly: boolean }) {
  const { data, error, reload } = useApi<QueueRow[]>("/queues");
  const [editing, setEditing] = useState<string | null>(null); // name, "" = new
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  usePoll(reload, editing === null ? 3000 : 60_000);
  const done = (text: string) => {
    setEditing(null);
    setNotice({ ok: true, text });
    reload();
  };
  return (
    <Page
      title={T.queues.title}
      actions={
        !readOnly &&
        editing === null && <button onClick={() => (setNotice(null), setEditing(""))}>{T.queues.create}</button>
      }
    >
      {notice && (
        <div className={notice.ok ? "banner ok" : "error"} role={notice.ok ? "status" : "alert"}>
          {notice.text}
        </div>
      )}
      {editing !== null && (
        <QueueForm
          key={editing}
          queue={data?.find((q) => q.name === editing) ?? null}
          onDone={done}
          onCancel={() => setEditing(null)}
        />
      )}
      <Table
        label={T.queues.title}
        rows={data}
        error={error}
        rowKey={(q) => q.name}
        columns={[
          { title: T.col.queue, render: (q) => q.name },
          {
            title: T.col.strategy,
            render: (q) => q.strategy,
          },
          {
            title: T.col.members,
            render: (q) =>
              (q.live?.members ?? q.members.map((m) => ({ ...memberOf(m), state: "" })))
                .map((m) => `${m.extension}${m.state ? ` (${m.state})` : ""}`)
                .join(", "),
          },
          { title: T.col.waiting, render: (q) => String(q.live?.waiting?.length ?? 0) },
          {
            title: T.queues.settings,
            render: (q) => (q.source === "stored" ? T.queues.stored : T.queues.fromFlows(q.flows.join(", "))),
          },
          {
            title: "",
            render: (q) =>
              !readOnly && (
                <span className="row-actions">
                  <button aria-label={T.queues.editOf(q.name)} onClick={() => (setNotice(null), setEditing(q.name))}>
                    {T.common.edit}
                  </button>
                  {q.source === "stored" && (
                    <button
                      className="danger"
                      aria-label={T.queues.deleteOf(q.name)}
                      onClick={async () => {
                        if (!window.confirm(T.queues.confirmDelete(q.name))) return;
                        try {
                          await del(`/queues/${encodeURIComponent(q.name)}`);
                          done(T.queues.deleted(q.name));
                        } catch (x) {
                          setNotice({ ok: false, text: errorText(x) });
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
    </Page>
  );
}
