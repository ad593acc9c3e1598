// Widgets of the settings form for values that are more than one input: queue members
// (extension and penalty) and opening hours per weekday.
import { useState } from "react";
import { T } from "../lib/text";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

export function formatIntervals(v: unknown): string {
  if (!Array.isArray(v)) return "";
  return v.map((iv) => (Array.isArray(iv) ? `${iv[0]}-${iv[1]}` : "")).join(", ");
}

export function parseIntervals(text: string): string[][] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => s.split("-").map((p) => p.trim()));
}

type Member = string | { extension: string; penalty?: number };

export function MemberList(props: {
  id: string;
  value: Member[];
  extensions: string[];
  disabled?: boolean;
  onChange: (v: Member[]) => void;
}) {
  const { value, onChange } = props;
  const ext = (m: Member) => (typeof m === "string" ? m : m.extension);
  const pen = (m: Member) => (typeof m === "string" ? 0 : (m.penalty ?? 0));
  const update = (i: number, e: string, p: number) => {
    const next = [...value];
    next[i] = p ? { extension: e, penalty: p } : e;
    onChange(next);
  };
  return (
    <div className="member-list" id={props.id}>
      {value.map((m, i) => (
        <div className="member" key={i}>
          <input
            aria-label={T.editor.member(i + 1)}
            list={`${props.id}-ext`}
            value={ext(m)}
            disabled={props.disabled}
            onChange={(e) => update(i, e.target.value, pen(m))}
          />
          <input
            aria-label={T.editor.penalty(i + 1)}
            type="number"
            min={0}
            value={pen(m)}
            disabled={props.disabled}
            onChange={(e) => update(i, ext(m), Number(e.target.value) || 0)}
          />
          <button
            type="button"
            className="icon-btn"
            aria-label={T.editor.removeMember(i + 1)}
            disabled={props.disabled}
            onClick={() => onChange(value.filter((_, j) => j !== i))}
          >
            ✕
          </button>
        </div>
      ))}
      <datalist id={`${props.id}-ext`}>
        {props.extensions.map((e) => (
          <option key={e} value={e} />
        ))}
      </datalist>
      <button
        type="button"
        disabled={props.disabled}
        onClick={() => onChange([...value, props.extensions.find((e) => !value.map(ext).includes(e)) ?? ""])}
      >
        {T.editor.addMember}
      </button>
    </div>
  );
}

export function WeekHours(props: {
  id: string;
  value: Record<string, string[][]> | null;
  disabled?: boolean;
  onChange: (v: Record<string, string[][]> | undefined) => void;
}) {
  const value = props.value ?? {};
  const [drafts, setDrafts] = useState<Record<string, string>>({});
  return (
    <div className="week-hours" id={props.id}>
      {DAYS.map((d) => (
        <label key={d} className="day">
          <span>{d}</span>
          <input
            aria-label={T.editor.hoursOn(d)}
            placeholder={T.editor.closed}
            disabled={props.disabled}
            value={drafts[d] ?? formatIntervals(value[d])}
            onChange={(e) => {
              setDrafts({ ...drafts, [d]: e.target.value });
              const next = { ...value, [d]: parseIntervals(e.target.value) };
              if (!next[d].length) delete next[d];
              props.onChange(Object.keys(next).length ? next : undefined);
            }}
          />
        </label>
      ))}
    </div>
  );
}
