// The call-flow editor: toolbar, palette, canvas, a side panel (settings, simulate or
// revisions) and the problems pane, around one document store (useFlowDocument.ts).
import { ReactFlowProvider, useReactFlow } from "@xyflow/react";
import { useCallback, useState } from "react";
import { T } from "../lib/text";
import { Canvas } from "./Canvas";
import { addNode, freeSpot, newNodeId } from "./mapping";
import { Palette } from "./Palette";
import { ProblemsList } from "./ProblemsList";
import { RevisionsPanel } from "./RevisionsPanel";
import { SettingsPanel } from "./SettingsPanel";
import { SimulatePanel } from "./SimulatePanel";
import { Toolbar } from "./Toolbar";
import type { TraceEntry } from "./types";
import { useEditorKeys, useUnsavedGuard } from "./useEditorKeys";
import { useFlowDocument } from "./useFlowDocument";

export function FlowEditor(props: { name: string; readOnly: boolean; onBack: () => void }) {
  return (
    <ReactFlowProvider>
      <Editor {...props} />
    </ReactFlowProvider>
  );
}

function Editor({ name, readOnly, onBack }: { name: string; readOnly: boolean; onBack: () => void }) {
  const rf = useReactFlow();
  const fd = useFlowDocument(name);
  const [steps, setSteps] = useState<TraceEntry[]>([]);
  useEditorKeys(fd, readOnly);
  useUnsavedGuard(fd, readOnly);

  const { docRef, edit, setSelected, setSide } = fd;
  const placeElement = useCallback(
    (type: string, at?: { x: number; y: number }) => {
      const current = docRef.current;
      if (!current) return;
      const pos =
        at ??
        freeSpot(current, rf.screenToFlowPosition({ x: window.innerWidth / 2, y: window.innerHeight / 2 }));
      const id = newNodeId(current, type);
      edit((d) => addNode(d, type, pos, id)[0]);
      setSelected(id);
      setSide("settings");
    },
    [docRef, edit, setSelected, setSide, rf],
  );

  if (fd.loadError)
    return (
      <div className="page">
        <div className="error" role="alert">
          {fd.loadError}
        </div>
        <button onClick={onBack}>{T.flows.title}</button>
      </div>
    );
  const doc = fd.doc;
  if (!doc) return <div className="page">{T.common.loading}</div>;

  const { side, selected, status, error } = fd;
  return (
    <div className="editor">
      <Toolbar fd={fd} readOnly={readOnly} onBack={onBack} />
      {(status || error) && (
        <div className={error ? "banner error" : "banner ok"} role={error ? "alert" : "status"}>
          {error || status}
        </div>
      )}
      <div className="editor-body">
        {!readOnly && <Palette onPlace={(type) => placeElement(type)} />}
        <Canvas fd={fd} readOnly={readOnly} steps={steps} onPlace={placeElement} flow={rf} />
        {side === "simulate" && (
          <SimulatePanel
            flowName={name}
            doc={doc}
            onSteps={setSteps}
            onClose={() => {
              setSteps([]);
              setSide("settings");
            }}
          />
        )}
        {side === "revisions" && <RevisionsPanel fd={fd} readOnly={readOnly} />}
        {side === "settings" && selected && doc.nodes[selected] && (
          <SettingsPanel fd={fd} selected={selected} readOnly={readOnly} />
        )}
      </div>
      <ProblemsList fd={fd} />
    </div>
  );
}
