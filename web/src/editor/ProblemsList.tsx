// The problems pane under the canvas: errors and notes; a click selects the node.
import { T } from "../lib/text";
import type { FlowDocument } from "./useFlowDocument";

export function ProblemsList({ fd }: { fd: FlowDocument }) {
  const all = fd.problemList;
  const errorCount = all.filter((p) => !p.warning).length;
  return (
    <section className="problems" aria-label={T.editor.problems} data-testid="problems">
      <h2>
        {T.editor.problems} ({errorCount})
      </h2>
      {all.length === 0 ? (
        <p className="muted">{T.editor.noProblems}</p>
      ) : (
        <ul>
          {all.map((p, i) => (
            <li key={i} className={p.warning ? "warning" : "error"}>
              {p.warning ? T.editor.note : ""}
              <button
                className="link"
                onClick={() => p.node && fd.doc && p.node in fd.doc.nodes && fd.setSelected(p.node)}
              >
                {p.message}
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
