import { useState } from "react";
import { errorText, post } from "../lib/api";
import { T } from "../lib/text";
import { useApi } from "../lib/useApi";
import { Page, Table, when } from "./common";

interface FlowSummary {
  name: string;
  published_revision: number | null;
  draft_changed: boolean;
  numbers: string[];
  updated_at: string;
}

export function Flows(props: { readOnly: boolean; onOpen: (name: string) => void }) {
  const { data, error } = useApi<FlowSummary[]>("/flows");
  const [name, setName] = useState("");
  const [createError, setCreateError] = useState("");
  return (
    <Page
      title={T.flows.title}
      actions={
        !props.readOnly && (
          <form
            className="inline"
            onSubmit={async (e) => {
              e.preventDefault();
              setCreateError("");
              try {
                await post("/flows", { name, entry: "start", nodes: {}, layout: {} });
                props.onOpen(name);
              } catch (err) {
                setCreateError(errorText(err));
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
      {createError && (
        <div className="error" role="alert">
          {createError}
        </div>
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
        ]}
      />
    </Page>
  );
}
