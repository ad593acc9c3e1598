// The call-flow document of SPEC §3 as the API sends and takes it.
export interface FlowNode {
  type: string;
  params: Record<string, unknown>;
  next: Record<string, string | null>;
}

export interface FlowDoc {
  name: string;
  entry: string;
  nodes: Record<string, FlowNode>;
  layout: Record<string, unknown>;
}

export interface Problem {
  node: string | null;
  field: string | null;
  code: string;
  message: string;
  level?: "error" | "warning";
}

export interface TraceEntry {
  t: number;
  node: string;
  type: string;
  output: string | null;
  facts: Record<string, unknown>;
}
