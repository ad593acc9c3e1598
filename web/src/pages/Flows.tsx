import { useState } from "react";
import { del, errorText, fieldErrors, get, post } from "../lib/api";
import { T } from "../lib/text";
import { useApi } from "../lib/useApi";
import { Page, Table, when } from "./common";
import { exportFlow, ImportFlow } from "./ConfigFile";

interface FlowSummary {
  name: string;
  published_revision: number | null;
  draft_changed: boolean;
  numbers: string[];
  updated_at: string;
}

type Action = { kind: "rename" | "duplicate"; flow: string; value: string } | null;

export function Flows(props: { readOnly: boolean; onOpen: (name: string) => void }) {
  const { data, error, reload } = useApi<FlowSummary[]>("/flows");
  const [name, setName] = useState("");
  // one banner at a time: a later success replaces an earlier error
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const [action, setAction] = useState<Action>(null);
  const [actionError, setActionError] = useState("");

  const runAction = async () => {
    if (!action) return;
    const to = action.value.trim();
    try {
      if (action.kind === "rename") {
        await post(`/flows/${encodeURIComponent(action.flow)}/rename`, { name: to });
        setNotice({ ok: true, text: T.flows.renamed(action.flow, to) });
      } else {
        const f = await get<{ draft: Record<string, unknown> }>(`/flows/${encodeURIComponent(action.flow)}`);
        const doc: Record<string, unknown> = { ...f.draft, name: to };
        // a copy answers no numbers until its "My numbers" element is given some
        const nodes = (doc.nodes ?? {}) as Record<string, { type: string; params?: Record<string, unknown> }>;
        doc.nodes = Object.fromEntries(
          Object.entries(nodes).map(([id, n]) =>
            n.type === "numbers" ? [id, { ...n, params: { ...(n.params ?? {}), numbers: [] } }] : [id, n],
          ),
        );
        await post("/flows", doc);
        setNotice({ ok: true, text: T.flows.duplicated(action.flow, to) });
      }
      setAction(null);
      setActionError("");
      reload();
    } catch (e) {
      setActionError(fieldErrors(e).name ?? errorText(e));
    }
  };

  const remove = async (f: FlowSummary) => {
    const question = f.published_revision
      ? T.flows.confirmDeletePublished(f.name, f.numbers ?? [])
      : T.flows.confirmDelete(f.name);
    if (!window.confirm(question)) return;
    try {
      await del(`/flows/${encodeURIComponent(f.name)}`);
      setNotice({ ok: true, text: T.flows.deleted(f.name) });
      reload();
    } catch (e) {
      setNotice({ ok: false, text: errorText(e) });
    }
  };

  return (
    <Page
      title={T.flows.title}
      actions={
        !props.readOnly && (
          <form
            className="inline"
            onSubmit={async (e) => {
              e.preventDefault();
              setNotice(null);
              try {
                await post("/flows", { name, entry: "start", nodes: {}, layout: {} });
                props.onOpen(name);
              } catch (err) {
                setNotice({ ok: false, text: errorText(err) });
              }
            }}
          >
            <label htmlFor="new-flow">{T.flows.newName}</label>
            <input id="new-flow" value={name} onChange={(e) => setName(e.target.value)} required />
            <button className="primary" type="submit">
              {T.flows.create}
            </button>
          </form>
        )
      }
    >
      {!props.readOnly && (
        <ImportFlow
          onDone={(text) => (setNotice({ ok: true, text }), reload())}
          onError={(text) => setNotice({ ok: false, text })}
        />
      )}
      {notice && (
        <div className={notice.ok ? "banner ok" : "error"} role={notice.ok ? "status" : "alert"}>
          {notice.text}
        </div>
      )}
      {action && (
        <form
          className="card inline"
          aria-label={action.kind === "rename" ? T.flows.renameOf(action.flow) : T.flows.duplicateOf(action.flow)}
          onSubmit={(e) => {
            e.preventDefault();
            void runAction();
          }}
        >
          <label htmlFor="flow-action-name">
            {action.kind === "rename" ? T.flows.newNameFor(action.flow) : T.flows.copyName}
          </label>
          <input
            id="flow-action-name"
            value={action.value}
            autoFocus
            required
            aria-invalid={actionError ? true : undefined}
            aria-describedby={actionError ? "flow-action-problem" : undefined}
            onChange={(e) => setAction({ ...action, value: e.target.value })}
          />
          <button className="primary" type="submit">
            {action.kind === "rename" ? T.flows.rename : T.flows.duplicate}
          </button>
          <button type="button" onClick={() => (setAction(null), setActionError(""))}>
            {T.common.cancel}
          </button>
          {actionError && (
            <div className="problem" id="flow-action-problem">
              {actionError}
            </div>
          )}
        </form>
      )}
      <Table
        label={T.flows.title}
        rows={data}
        error={error}
        rowKey={(f) => f.name}
        columns={[
          {
            title: T.col.name,
            render: (f) => (
              <button className="link" onClick={() => props.onOpen(f.name)}>
                {f.name}
              </button>
            ),
          },
          { title: T.col.numbers, render: (f) => (f.numbers ?? []).join(", ") },
          {
            title: T.col.state,
            render: (f) =>
              f.published_revision
                ? `${T.flows.published} #${f.published_revision}${f.draft_changed ? ` + ${T.flows.draft}` : ""}`
                : T.flows.draft,
          },
          { title: T.col.updated, render: (f) => when(f.updated_at) },
          {
            title: "",
            render: (f) => (
              <span className="row-actions">
                <button
                  title={T.config.exportOf(f.name)}
                  onClick={() => void exportFlow(f.name).catch((e) => setNotice({ ok: false, text: errorText(e) }))}
                >
                  {T.config.export}
                </button>
                {!props.readOnly && (
                  <>
                  <button
                    title={T.flows.renameOf(f.name)}
                    onClick={() => (setActionError(""), setAction({ kind: "rename", flow: f.name, value: f.name }))}
                  >
                    {T.flows.rename}
                  </button>
                  <button
                    title={T.flows.duplicateOf(f.name)}
                    onClick={() => (
                      setActionError(""), setAction({ kind: "duplicate", flow: f.name, value: T.flows.copyOf(f.name) })
                    )}
                  >
                    {T.flows.duplicate}
                  </button>
                  <button className="danger" title={T.flows.deleteOf(f.name)} onClick={() => void remove(f)}>
                    {T.common.delete}
                  </button>
                  </>
                )}
              </span>
            ),
          },
        ]}
      />
    </Page>
  );
}
