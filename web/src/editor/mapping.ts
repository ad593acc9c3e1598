// Flow document <-> canvas. The document (SPEC §3) is the source of truth; the canvas
// (nodes and edges of @xyflow/react) is derived from it, and every edit is a pure function
// from one document to the next, which makes undo/redo a list of documents.
import type { Edge, Node } from "@xyflow/react";
import dagre from "@dagrejs/dagre";
import { ELEMENT_BY_TYPE } from "./elements";
import { MENU_KEYS, outputsOf } from "./schema";
import type { FlowDoc, FlowNode } from "./types";

export interface ElementData extends Record<string, unknown> {
  id: string;
  node: FlowNode;
  outputs: string[];
  isEntry: boolean;
  problems: string[];
  warnings: string[];
  lit: boolean;
  step: number | null;
}

export type ElementRFNode = Node<ElementData, "element">;

export interface Point {
  x: number;
  y: number;
}

export function positionOf(doc: FlowDoc, id: string): Point | null {
  const p = doc.layout[id] as Partial<Point> | undefined;
  if (p && typeof p.x === "number" && typeof p.y === "number") return { x: p.x, y: p.y };
  return null;
}

export function edgeId(source: string, output: string): string {
  return `${source}:${output}`;
}

export interface CanvasExtras {
  problems?: Record<string, string[]>;
  warnings?: Record<string, string[]>;
  lit?: string[]; // node ids visited, in order
  litEdges?: string[]; // edge ids taken
}

/** The canvas of a document: one node per element, one edge per connected output. */
export function flowToCanvas(
  doc: FlowDoc,
  extras: CanvasExtras = {},
): { nodes: ElementRFNode[]; edges: Edge[] } {
  const auto = autoLayout(doc);
  const lit = extras.lit ?? [];
  const nodes: ElementRFNode[] = Object.entries(doc.nodes).map(([id, node]) => ({
    id,
    type: "element",
    position: positionOf(doc, id) ?? auto[id] ?? { x: 0, y: 0 },
    data: {
      id,
      node,
      outputs: outputsOf(node),
      isEntry: doc.entry === id,
      problems: extras.problems?.[id] ?? [],
      warnings: extras.warnings?.[id] ?? [],
      lit: lit.includes(id),
      step: lit.includes(id) ? lit.indexOf(id) + 1 : null,
    },
  }));
  const litEdges = new Set(extras.litEdges ?? []);
  const edges: Edge[] = [];
  for (const [id, node] of Object.entries(doc.nodes)) {
    for (const [output, target] of Object.entries(node.next)) {
      if (!target || !(target in doc.nodes)) continue;
      const eid = edgeId(id, output);
      edges.push({
        id: eid,
        source: id,
        sourceHandle: output,
        target,
        targetHandle: "in",
        animated: litEdges.has(eid),
        className: litEdges.has(eid) ? "lit" : undefined,
      });
    }
  }
  return { nodes, edges };
}

/** The document a canvas shows: elements, connections and positions. */
export function canvasToFlow(
  name: string,
  nodes: ElementRFNode[],
  edges: Edge[],
  entry?: string,
): FlowDoc {
  const out: FlowDoc = { name, entry: "", nodes: {}, layout: {} };
  for (const n of nodes) {
    out.nodes[n.id] = { type: n.data.node.type, params: { ...n.data.node.params }, next: {} };
    out.layout[n.id] = { x: Math.round(n.position.x), y: Math.round(n.position.y) };
  }
  for (const e of edges) {
    const src = out.nodes[e.source];
    if (src && e.sourceHandle && e.target in out.nodes) src.next[e.sourceHandle] = e.target;
  }
  const firstNumbers = nodes.find((n) => n.data.node.type === "numbers")?.id;
  out.entry = entry && entry in out.nodes ? entry : (firstNumbers ?? nodes[0]?.id ?? "");
  return out;
}

// ------------------------------------------------------------------ edits

export function emptyFlow(name: string): FlowDoc {
  return { name, entry: "", nodes: {}, layout: {} };
}

/** A fresh id for a new element of `type`: the type name, then type2, type3, ... */
export function newNodeId(doc: FlowDoc, type: string): string {
  const base = type === "numbers" ? "start" : type;
  if (!(base in doc.nodes)) return base;
  for (let i = 2; ; i++) if (!(`${base}${i}` in doc.nodes)) return `${base}${i}`;
}

export function addNode(doc: FlowDoc, type: string, at: Point, id?: string): [FlowDoc, string] {
  if (!ELEMENT_BY_TYPE[type]) throw new Error(`unknown element type ${type}`);
  const nid = id ?? newNodeId(doc, type);
  const next: FlowDoc = {
    ...doc,
    nodes: { ...doc.nodes, [nid]: { type, params: {}, next: {} } },
    layout: { ...doc.layout, [nid]: { x: Math.round(at.x), y: Math.round(at.y) } },
  };
  if (!next.entry && type === "numbers") next.entry = nid;
  return [next, nid];
}

function withNode(doc: FlowDoc, id: string, node: FlowNode): FlowDoc {
  return { ...doc, nodes: { ...doc.nodes, [id]: node } };
}

/** Connect `source`'s `output` to `target` (replacing what that output pointed to). */
export function connect(doc: FlowDoc, source: string, output: string, target: string): FlowDoc {
  const node = doc.nodes[source];
  if (!node || !(target in doc.nodes)) return doc;
  return withNode(doc, source, { ...node, next: { ...node.next, [output]: target } });
}

export function disconnect(doc: FlowDoc, source: string, output: string): FlowDoc {
  const node = doc.nodes[source];
  if (!node || !(output in node.next)) return doc;
  const next = { ...node.next };
  delete next[output];
  return withNode(doc, source, { ...node, next });
}

export function removeNode(doc: FlowDoc, id: string): FlowDoc {
  if (!(id in doc.nodes)) return doc;
  const nodes: Record<string, FlowNode> = {};
  for (const [nid, node] of Object.entries(doc.nodes)) {
    if (nid === id) continue;
    const next = Object.fromEntries(Object.entries(node.next).filter(([, t]) => t !== id));
    nodes[nid] = { ...node, next };
  }
  const layout = { ...doc.layout };
  delete layout[id];
  const entry =
    doc.entry === id
      ? (Object.entries(nodes).find(([, n]) => n.type === "numbers")?.[0] ?? "")
      : doc.entry;
  return { ...doc, nodes, layout, entry };
}

export function renameNode(doc: FlowDoc, from: string, to: string): FlowDoc {
  if (from === to || !(from in doc.nodes) || to in doc.nodes || !to) return doc;
  const nodes: Record<string, FlowNode> = {};
  for (const [nid, node] of Object.entries(doc.nodes)) {
    const next = Object.fromEntries(
      Object.entries(node.next).map(([o, t]) => [o, t === from ? to : t]),
    );
    nodes[nid === from ? to : nid] = { ...node, next };
  }
  const layout: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc.layout)) layout[k === from ? to : k] = v;
  return { ...doc, nodes, layout, entry: doc.entry === from ? to : doc.entry };
}

export function moveNode(doc: FlowDoc, id: string, to: Point): FlowDoc {
  return { ...doc, layout: { ...doc.layout, [id]: { x: Math.round(to.x), y: Math.round(to.y) } } };
}

/** Replace an element's settings; outputs that no longer exist are dropped. */
export function setParams(doc: FlowDoc, id: string, params: Record<string, unknown>): FlowDoc {
  const node = doc.nodes[id];
  if (!node) return doc;
  const updated: FlowNode = { ...node, params };
  const valid = new Set(outputsOf(updated));
  const next = Object.fromEntries(Object.entries(node.next).filter(([o]) => valid.has(o)));
  return withNode(doc, id, { ...updated, next });
}

/** Add a key output to a menu (it appears as a handle, unconnected until wired). */
export function addMenuKey(doc: FlowDoc, id: string, key: string): FlowDoc {
  const node = doc.nodes[id];
  if (!node || node.type !== "menu" || !MENU_KEYS.includes(key)) return doc;
  const keys = new Set<string>((node.params.keys as string[] | undefined) ?? []);
  keys.add(key);
  return withNode(doc, id, { ...node, params: { ...node.params, keys: [...keys].sort() } });
}

// ------------------------------------------------------------------ layout

export const NODE_W = 220;
export const NODE_H = 120;

/** Left-to-right layered layout of the whole graph. */
export function autoLayout(doc: FlowDoc): Record<string, Point> {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 40, ranksep: 90 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const [id, node] of Object.entries(doc.nodes)) {
    const h = NODE_H + 18 * Math.max(0, outputsOf(node).length - 2);
    g.setNode(id, { width: NODE_W, height: h });
  }
  for (const [id, node] of Object.entries(doc.nodes))
    for (const t of Object.values(node.next)) if (t && t in doc.nodes) g.setEdge(id, t);
  dagre.layout(g);
  const out: Record<string, Point> = {};
  for (const id of Object.keys(doc.nodes)) {
    const n = g.node(id);
    out[id] = { x: Math.round(n.x - n.width / 2), y: Math.round(n.y - n.height / 2) };
  }
  return out;
}

export function applyAutoLayout(doc: FlowDoc): FlowDoc {
  const pos = autoLayout(doc);
  return { ...doc, layout: { ...doc.layout, ...pos } };
}

/** Edges a simulated call took: each trace step's output towards the next step. */
export function litEdgesOf(doc: FlowDoc, path: { node: string; output: string | null }[]): string[] {
  const out: string[] = [];
  for (const step of path) {
    const node = doc.nodes[step.node];
    if (node && step.output && node.next[step.output]) out.push(edgeId(step.node, step.output));
  }
  return out;
}

/** A document as the API sent it, with every optional part filled in. */
export function normalizeDoc(raw: Partial<FlowDoc> | null | undefined, name: string): FlowDoc {
  const nodes: Record<string, FlowNode> = {};
  for (const [id, n] of Object.entries(raw?.nodes ?? {}))
    nodes[id] = { type: n.type, params: { ...(n.params ?? {}) }, next: { ...(n.next ?? {}) } };
  return { name, entry: raw?.entry ?? "", nodes, layout: { ...(raw?.layout ?? {}) } };
}

export interface FlowDiff {
  added: string[];
  removed: string[];
  changed: { id: string; what: string[] }[];
  entry: [string, string] | null;
}

/** What changed from document `a` to `b`: elements added, removed, and changed. */
export function diffFlows(a: FlowDoc, b: FlowDoc): FlowDiff {
  const added = Object.keys(b.nodes).filter((id) => !(id in a.nodes));
  const removed = Object.keys(a.nodes).filter((id) => !(id in b.nodes));
  const changed: { id: string; what: string[] }[] = [];
  const same = (x: unknown, y: unknown) => JSON.stringify(x ?? {}) === JSON.stringify(y ?? {});
  for (const [id, nb] of Object.entries(b.nodes)) {
    const na = a.nodes[id];
    if (!na) continue;
    const what: string[] = [];
    if (na.type !== nb.type) what.push(`type ${na.type} → ${nb.type}`);
    const keys = new Set([...Object.keys(na.params), ...Object.keys(nb.params)]);
    for (const k of [...keys].sort())
      if (!same(na.params[k], nb.params[k]))
        what.push(`${k}: ${JSON.stringify(na.params[k] ?? null)} → ${JSON.stringify(nb.params[k] ?? null)}`);
    const outs = new Set([...Object.keys(na.next), ...Object.keys(nb.next)]);
    for (const o of [...outs].sort())
      if ((na.next[o] ?? null) !== (nb.next[o] ?? null))
        what.push(`${o}: ${na.next[o] ?? "—"} → ${nb.next[o] ?? "—"}`);
    if (what.length) changed.push({ id, what });
  }
  return { added, removed, changed, entry: a.entry !== b.entry ? [a.entry, b.entry] : null };
}

/** The first spot near `at` where a new element overlaps no other (elements are about
 * 220 x 120): so elements added one after another from the keyboard do not pile up. */
export function freeSpot(doc: FlowDoc, at: Point): Point {
  const taken = Object.keys(doc.nodes)
    .map((id) => doc.layout[id] as Point | undefined)
    .filter((p): p is Point => !!p && typeof p.x === "number" && typeof p.y === "number");
  const clear = (p: Point) => taken.every((q) => Math.abs(q.x - p.x) >= 240 || Math.abs(q.y - p.y) >= 140);
  for (let ring = 0; ring < 12; ring++) {
    for (let row = 0; row <= ring; row++) {
      for (const p of [
        { x: at.x + ring * 260, y: at.y + row * 160 },
        { x: at.x + row * 260, y: at.y + ring * 160 },
      ]) {
        if (clear(p)) return p;
      }
    }
  }
  return { x: at.x + taken.length * 30, y: at.y + taken.length * 30 };
}
