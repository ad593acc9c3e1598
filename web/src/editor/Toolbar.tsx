// The editor's toolbar: back, name and revision, undo/redo, layout, save, validate,
// simulate, revisions, publish with a message.
import { T } from "../lib/text";
import { applyAutoLayout } from "./mapping";
import type { FlowDocument } from "./useFlowDocument";

export function Toolbar(props: { fd: FlowDocument; readOnly: boolean; onBack: () => void }) {
  const { fd, readOnly } = props;
  return (
    <div className="toolbar" role="toolbar" aria-label={T.editor.toolbar}>
      {/* the router asks first when there are unsaved changes (lib/leaveGuard.ts) */}
      <button onClick={props.onBack} aria-label={T.editor.back}>
        ←
      </button>
      <h1>{fd.name}</h1>
      <span className="muted">
        {fd.publishedRev ? T.editor.revisionPublished(fd.publishedRev) : T.flows.draft}
        {fd.dirty ? ` · ${T.editor.unsaved}` : ""}
      </span>
      <span className="spacer" />
      <button onClick={fd.undo} disabled={!fd.canUndo} title={T.editor.keyUndo}>
        {T.editor.undo}
      </button>
      <button onClick={fd.redo} disabled={!fd.canRedo} title={T.editor.keyRedo}>
        {T.editor.redo}
      </button>
      <button onClick={() => fd.edit(applyAutoLayout)} disabled={readOnly}>
        {T.editor.layout}
      </button>
      {!readOnly && (
        <button onClick={() => void fd.save()} title={T.editor.keySave}>
          {T.editor.save}
        </button>
      )}
      <button onClick={() => void fd.validate()}>{T.editor.validate}</button>
      <button onClick={() => fd.setSide("simulate")}>{T.editor.simulate}</button>
      <button onClick={fd.showRevisions}>{T.editor.revisions}</button>
      {!readOnly && (
        <>
          <input
            aria-label={T.editor.publishMessage}
            placeholder={T.editor.publishMessage}
            value={fd.publishMsg}
            onChange={(e) => fd.setPublishMsg(e.target.value)}
          />
          <button className="primary" onClick={() => void fd.publish()}>
            {T.editor.publish}
          </button>
        </>
      )}
    </div>
  );
}
