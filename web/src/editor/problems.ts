// Problems of a flow document: the schema's judgement of each node's settings now, plus the
// server's last verdict (errors block publishing; warnings, such as an unconnected output,
// are notes).
import { ELEMENT_BY_TYPE } from "./elements";
import { validateParams } from "./schema";
import type { FlowDoc, Problem } from "./types";

export type ByNode = Record<string, string[]>;

export interface ListedProblem {
  node: string | null;
  message: string;
  warning?: boolean;
}

/** [errors by node, warnings by node]. */
export function nodeProblems(doc: FlowDoc | null, server: Problem[] | null): [ByNode, ByNode] {
  const by: ByNode = {};
  const notes: ByNode = {};
  if (!doc) return [by, notes];
  for (const [id, node] of Object.entries(doc.nodes)) {
    if (!ELEMENT_BY_TYPE[node.type]) continue;
    for (const p of validateParams(node.type, node.params)) (by[id] ??= []).push(`${p.field}: ${p.message}`);
  }
  for (const p of server ?? []) {
    if (!p.node || !(p.node in doc.nodes)) continue;
    if (p.level === "warning") {
      (notes[p.node] ??= []).push(p.message);
      continue;
    }
    const list = (by[p.node] ??= []);
    const field = p.field?.replace(/^params\./, "") ?? "";
    if (!list.some((m) => m.startsWith(`${field}:`))) list.push(p.message);
  }
  return [by, notes];
}

/** One list for the problems pane: node errors, flow-wide errors, then warnings. */
export function problemList(problems: ByNode, server: Problem[] | null): ListedProblem[] {
  const all: ListedProblem[] = [];
  for (const [id, msgs] of Object.entries(problems))
    for (const m of msgs) all.push({ node: id, message: m.startsWith(id) ? m : `${id}: ${m}` });
  for (const p of server ?? []) if (!p.node && p.level !== "warning") all.push(p);
  for (const p of server ?? [])
    if (p.level === "warning") all.push({ node: p.node, message: p.message, warning: true });
  return all;
}
