import { useCallback, useState } from "react";
import { errorText, post } from "../lib/api";
import { useLiveEvents } from "../lib/events";
import { T } from "../lib/text";
import { useApi, usePoll } from "../lib/useApi";
import { Page, Table } from "./common";

interface Extension {
  number: string;
  name: string;
  registered: boolean;
  registrations: { contact: string; source: string; user_agent: string | null }[];
}

function randomPassword(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => "abcdefghjkmnpqrstuvwxyz23456789"[b % 31]).join("");
}

export function Extensions({ readOnly }: { readOnly: boolean }) {
  const { data, error, reload } = useApi<Extension[]>("/extensions");
  usePoll(reload, 2000);
  useLiveEvents(
    useCallback((e) => {
      if (e.type === "registration") reload();
    }, [reload]),
  );
  const [number, setNumber] = useState("");
  const [name, setName] = useState("");
  const [created, setCreated] = useState("");
  const [createError, setCreateError] = useState("");
  return (
    <Page title={T.extensions.title}>
      {!readOnly && (
        <form
          className="inline"
          onSubmit={async (e) => {
            e.preventDefault();
            const password = randomPassword();
            try {
              await post("/extensions", { number, name, password });
              setCreated(`${number}: password ${password}`);
              setCreateError("");
              reload();
            } catch (err) {
              setCreateError(errorText(err));
            }
          }}
        >
          <label htmlFor="ext-number">{T.extensions.number}</label>
          <input id="ext-number" value={number} onChange={(e) => setNumber(e.target.value)} required />
          <label htmlFor="ext-name">{T.extensions.name}</label>
          <input id="ext-name" value={name} onChange={(e) => setName(e.target.value)} required />
          <button className="primary">{T.common.create}</button>
        </form>
      )}
      {created && <div className="banner ok">Created {created} — copy it now, it is shown once.</div>}
      {createError && (
        <div className="error" role="alert">
          {createError}
        </div>
      )}
      <Table
        label={T.extensions.title}
        rows={data}
        error={error}
        rowKey={(x) => x.number}
        columns={[
          { title: T.extensions.number, render: (x) => x.number },
          { title: T.extensions.name, render: (x) => x.name },
          {
            title: T.extensions.state,
            render: (x) => (
              <span className={x.registered ? "pill on" : "pill off"} data-testid={`state-${x.number}`}>
                {x.registered ? T.extensions.registered : T.extensions.offline}
              </span>
            ),
          },
          {
            title: T.extensions.phones,
            render: (x) =>
              x.registrations.map((r) => `${r.user_agent ?? "phone"} @ ${r.source}`).join("; "),
          },
        ]}
      />
    </Page>
  );
}
