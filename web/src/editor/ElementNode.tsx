// One element on the canvas: icon + seed name, its id, a one-line summary, an input handle
// on the left and one labelled output handle per output on the right.
import { Handle, Position, type NodeProps } from "@xyflow/react";
import { memo } from "react";
import { T } from "../lib/text";
import { ELEMENT_BY_TYPE, OUTPUT_LABELS } from "./elements";
import type { ElementRFNode } from "./mapping";

export function Icon({ path, color }: { path: string; color: string }) {
  return (
    <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" className="el-icon">
      <path d={path} fill="none" stroke={color} strokeWidth="2" strokeLinejoin="round" />
    </svg>
  );
}

/** A short line saying what the element does with its current settings. */
export function summary(type: string, params: Record<string, unknown>): string {
  const p = params;
  const list = (v: unknown) => (Array.isArray(v) ? v.map((m) => (typeof m === "object" && m ? (m as { extension: string }).extension : String(m))).join(", ") : "");
  switch (type) {
    case "numbers":
      return list(p.numbers) || T.summary.noNumbers;
    case "call_phone":
      return String(p.number ?? T.summary.number);
    case "call_sip":
      return p.extension ? T.summary.extension(String(p.extension)) : T.summary.noExtension;
    case "voicemail":
      return T.summary.voicemail(String(p.mode ?? "leave"), String(p.mailbox ?? "?"));
    case "play":
      return String(p.audio ?? T.summary.audio);
    case "menu":
      return String(p.prompt ?? T.summary.prompt);
    case "time_routing":
      return p.schedule
        ? T.summary.schedule(String(p.schedule))
        : p.hours
          ? T.summary.ownHours
          : T.summary.noSchedule;
    case "queue":
      return list(p.members) || T.summary.noMembers;
    case "http_notify":
    case "caller_lookup":
      return String(p.url ?? T.summary.url);
    case "email":
      return list(p.to) || T.summary.to;
    default:
      return "";
  }
}

export function outputLabel(type: string, output: string): string {
  if (type === "menu" && /^[0-9*#]$/.test(output)) return T.editor.outputKey(output);
  if (type === "http_notify" && /^[1-5]$/.test(output)) return T.editor.outputReply(output);
  return OUTPUT_LABELS[output] ?? output;
}

function ElementNodeView({ data, selected }: NodeProps<ElementRFNode>) {
  const info = ELEMENT_BY_TYPE[data.node.type];
  const classes = ["element-node"];
  if (selected) classes.push("selected");
  if (data.problems.length) classes.push("invalid");
  if (data.lit) classes.push("lit");
  return (
    <div
      className={classes.join(" ")}
      style={{ borderTopColor: info?.color }}
      data-testid={`node-${data.id}`}
      data-type={data.node.type}
      aria-label={`${info?.label ?? data.node.type} ${data.id}`}
    >
      <Handle type="target" position={Position.Left} id="in" className="handle-in" />
      <div className="el-head">
        {info && <Icon path={info.icon} color={info.color} />}
        <span className="el-kind">{info?.label ?? data.node.type}</span>
        {data.isEntry && <span className="badge entry">{T.editor.entry}</span>}
        {data.step !== null && <span className="badge step">{data.step}</span>}
      </div>
      <div className="el-id">{data.id}</div>
      <div className="el-summary">{summary(data.node.type, data.node.params)}</div>
      {data.warnings.length > 0 && data.problems.length === 0 && (
        <div className="el-warnings" title={data.warnings.join("\n")}>
          {T.editor.notes(data.warnings.length)}
        </div>
      )}
      {data.problems.length > 0 && (
        <div className="el-problems" title={data.problems.join("\n")}>
          ⚠ {data.problems[0]}
          {data.problems.length > 1 ? ` (+${data.problems.length - 1})` : ""}
        </div>
      )}
      <div className="el-outputs">
        {data.outputs.map((o) => (
          <div className="el-output" key={o} data-output={o}>
            <span>{outputLabel(data.node.type, o)}</span>
            <Handle
              type="source"
              position={Position.Right}
              id={o}
              className="handle-out"
              data-testid={`handle-${data.id}-${o}`}
            />
          </div>
        ))}
      </div>
    </div>
  );
}

export const ElementNode = memo(ElementNodeView);
