// Published revisions of the flow: compare one with the canvas, or roll back to it.
import { T } from "../lib/text";
import type { FlowDocument } from "./useFlowDocument";

export function RevisionsPanel(props: { fd: FlowDocument; readOnly: boolean }) {
  const { fd, readOnly } = props;
  const diff = fd.diff;
  return (
    <aside className="side-panel" aria-label={T.editor.revisions}>
      <header>
        <h2>{T.editor.revisions}</h2>
        <button className="icon-btn" aria-label={T.common.close} onClick={() => fd.setSide("settings")}>
          ✕
        </button>
      </header>
      <ul className="revisions">
        {fd.revisions.map((r) => (
          <li key={r.number}>
            <strong>#{r.number}</strong> {r.message ?? ""}{" "}
            <span className="muted">
              {r.author ?? ""} {new Date(r.created_at).toLocaleString()}
            </span>
            <span className="row-actions">
              <button onClick={() => void fd.compare(r.number)}>{T.editor.compare}</button>
              {!readOnly && (
                <button onClick={() => void fd.rollback(r.number)}>
                  {T.editor.rollback} #{r.number}
                </button>
              )}
            </span>
          </li>
        ))}
      </ul>
      {diff && (
        <section className="diff" aria-label={T.editor.changesSince(diff.revision)}>
          <h3>{T.editor.comparedWith(diff.revision)}</h3>
          {!diff.diff.added.length && !diff.diff.removed.length && !diff.diff.changed.length && (
            <p className="muted">{T.editor.noChanges}</p>
          )}
          <ul>
            {diff.diff.added.map((id) => (
              <li key={`a-${id}`} className="added">
                + {id}
              </li>
            ))}
            {diff.diff.removed.map((id) => (
              <li key={`r-${id}`} className="removed">
                − {id}
              </li>
            ))}
            {diff.diff.changed.map((c) => (
              <li key={`c-${c.id}`}>
                ~ {c.id}
                <ul>
                  {c.what.map((w) => (
                    <li key={w}>
                      <code>{w}</code>
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ul>
        </section>
      )}
    </aside>
  );
}
