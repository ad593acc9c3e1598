import { useState } from "react";
import { del, errorText, post } from "../lib/api";
import { T } from "../lib/text";
import { useApi } from "../lib/useApi";
import { Page, Table, when } from "./common";
import { Mailboxes, type MailboxRow } from "./Mailboxes";

interface Message {
  id: number;
  caller: string;
  caller_name: string | null;
  received_at: string;
  duration_s: number;
  heard: boolean;
}

export function Voicemail({ readOnly }: { readOnly: boolean }) {
  const boxes = useApi<MailboxRow[]>("/mailboxes");
  const [box, setBox] = useState<string>("");
  const current = box || boxes.data?.[0]?.number || "";
  const msgs = useApi<Message[]>(current ? `/mailboxes/${encodeURIComponent(current)}/messages` : null);
  const [playing, setPlaying] = useState<number | null>(null);
  const [err, setErr] = useState("");
  const base = `/api/v1/mailboxes/${encodeURIComponent(current)}/messages`;
  return (
    <Page title={T.voicemail.title}>
      {boxes.error && <div className="error">{boxes.error}</div>}
      <div className="inline">
        <label htmlFor="mailbox">{T.voicemail.mailbox}</label>
        <select id="mailbox" value={current} onChange={(e) => setBox(e.target.value)}>
          {(boxes.data ?? []).map((b) => (
            <option key={b.number} value={b.number}>
              {b.number} {b.name} {b.unheard ? T.voicemail.unheard(b.unheard) : ""}
            </option>
          ))}
        </select>
      </div>
      {err && (
        <div className="error" role="alert">
          {err}
        </div>
      )}
      <Table
        label={T.voicemail.title}
        rows={current ? msgs.data : []}
        error={msgs.error}
        rowKey={(m) => String(m.id)}
        columns={[
          { title: T.col.received, render: (m) => when(m.received_at) },
          { title: T.voicemail.from, render: (m) => `${m.caller_name ?? ""} ${m.caller}`.trim() },
          { title: T.col.length, render: (m) => T.common.seconds(m.duration_s.toFixed(0)) },
          { title: T.col.heard, render: (m) => (m.heard ? T.common.yes : T.common.no) },
          {
            title: T.common.play,
            render: (m) =>
              playing === m.id ? (
                <audio controls autoPlay src={`${base}/${m.id}/file`} data-testid={`vm-player-${m.id}`} />
              ) : (
                <button
                  aria-label={T.voicemail.playMessage(m.id)}
                  onClick={async () => {
                    setPlaying(m.id);
                    if (!readOnly && !m.heard) {
                      await post(`/mailboxes/${encodeURIComponent(current)}/messages/${m.id}/heard`, { heard: true }).catch(() => undefined);
                      msgs.reload();
                    }
                  }}
                >
                  ▶ {T.common.play}
                </button>
              ),
          },
          {
            title: "",
            render: (m) => (
              <>
                <a href={`${base}/${m.id}/file`} download={`voicemail-${m.id}.wav`}>
                  {T.voicemail.download}
                </a>{" "}
                {!readOnly && (
                  <button
                    className="danger"
                    onClick={async () => {
                      try {
                        await del(`/mailboxes/${encodeURIComponent(current)}/messages/${m.id}`);
                        setErr("");
                        msgs.reload();
                      } catch (e) {
                        setErr(errorText(e));
                      }
                    }}
                  >
                    {T.common.delete}
                  </button>
                )}
              </>
            ),
          },
        ]}
      />
      <Mailboxes rows={boxes.data} error={boxes.error} readOnly={readOnly} reload={boxes.reload} />
    </Page>
  );
}
