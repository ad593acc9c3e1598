// The canvas: the flow drawn with React Flow; drag to move, connect outputs, drop elements
// from the palette, Delete removes. Steps of a simulated call are lit.
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  type Connection,
  type EdgeChange,
  type NodeChange,
  type ReactFlowInstance,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useCallback, useMemo, useRef, useState } from "react";
import { T } from "../lib/text";
import { ELEMENT_BY_TYPE } from "./elements";
import { ElementNode } from "./ElementNode";
import { connect, disconnect, flowToCanvas, litEdgesOf, moveNode, removeNode, type ElementRFNode } from "./mapping";
import { DND_TYPE } from "./Palette";
import type { TraceEntry } from "./types";
import type { FlowDocument } from "./useFlowDocument";

const NODE_TYPES = { element: ElementNode };

export function Canvas(props: {
  fd: FlowDocument;
  readOnly: boolean;
  steps: TraceEntry[];
  onPlace: (type: string, at: { x: number; y: number }) => void;
  flow: Pick<ReactFlowInstance, "screenToFlowPosition">;
}) {
  const { fd, readOnly, steps } = props;
  const { doc, edit, selected, select, problems, warnings } = fd;
  const dragging = useRef(false);
  const [measured, setMeasured] = useState<Record<string, { width: number; height: number }>>({});

  const canvas = useMemo(() => {
    if (!doc) return { nodes: [], edges: [] };
    const c = flowToCanvas(doc, {
      problems,
      warnings,
      lit: steps.map((s) => s.node),
      litEdges: litEdgesOf(doc, steps),
    });
    for (const n of c.nodes) {
      n.selected = n.id === selected;
      if (measured[n.id]) n.measured = measured[n.id];
    }
    return c;
  }, [doc, problems, warnings, steps, selected, measured]);

  const onNodesChange = useCallback(
    (changes: NodeChange<ElementRFNode>[]) => {
      for (const c of changes) {
        if (c.type === "position" && c.position) {
          const pos = c.position;
          // the first move of a drag is one undo step; the rest of the drag joins it
          const first = !!c.dragging && !dragging.current;
          if (first) dragging.current = true;
          edit((d) => moveNode(d, c.id, pos), first);
          if (!c.dragging) dragging.current = false;
        } else if (c.type === "position" && c.dragging === false) {
          dragging.current = false;
        } else if (c.type === "select") {
          if (c.selected) select(c.id);
          else fd.setSelected((s) => (s === c.id ? null : s));
        } else if (c.type === "remove" && !readOnly) {
          edit((d) => removeNode(d, c.id));
        } else if (c.type === "dimensions" && c.dimensions) {
          const dims = c.dimensions;
          setMeasured((m) => ({ ...m, [c.id]: dims }));
        }
      }
    },
    [edit, select, fd.setSelected, readOnly],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => {
      for (const c of changes) {
        if (c.type === "remove" && !readOnly) {
          const i = c.id.lastIndexOf(":");
          edit((d) => disconnect(d, c.id.slice(0, i), c.id.slice(i + 1)));
        }
      }
    },
    [edit, readOnly],
  );

  const onConnect = useCallback(
    (c: Connection) => {
      if (readOnly || !c.sourceHandle) return;
      edit((d) => connect(d, c.source, c.sourceHandle as string, c.target));
    },
    [edit, readOnly],
  );

  return (
    <div
      className="canvas"
      data-testid="canvas"
      onDragOver={(e) => {
        e.preventDefault();
        e.dataTransfer.dropEffect = "move";
      }}
      onDrop={(e) => {
        e.preventDefault();
        const type = e.dataTransfer.getData(DND_TYPE);
        if (!type || readOnly) return;
        props.onPlace(type, props.flow.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
      }}
    >
      <ReactFlow
        nodes={canvas.nodes}
        edges={canvas.edges}
        nodeTypes={NODE_TYPES}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        nodesDraggable={!readOnly}
        nodesConnectable={!readOnly}
        deleteKeyCode={readOnly ? null : ["Delete", "Backspace"]}
        fitView={fd.fitOnLoad}
        fitViewOptions={{ maxZoom: 1 }}
        minZoom={0.2}
        proOptions={{ hideAttribution: true }}
      >
        <Background />
        <Controls />
        <MiniMap
          pannable
          zoomable
          nodeColor={(n) => ELEMENT_BY_TYPE[(n.data as ElementRFNode["data"]).node.type]?.color ?? "#94a3b8"}
          ariaLabel={T.editor.minimap}
        />
      </ReactFlow>
    </div>
  );
}
