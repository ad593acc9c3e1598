// The settings panel of one element, generated from the flow JSON Schema (schema.ts).
// Library pickers (audio, extensions, mailboxes, schedules) are UI hints on string settings.
import { useMemo, useState } from "react";
import { T } from "../lib/text";
import { PICKERS } from "./elements";
import { fieldsFor, validateParams, type FieldProblem, type FieldSpec } from "./schema";

export interface Library {
  audio: string[];
  extensions: string[];
  mailboxes: string[];
  schedules: string[];
  numbers: string[];
  queues?: string[];
  /** "101" -> "Alice": names shown beside numbers in the pickers */
  names?: { extension: Record<string, string>; mailbox: Record<string, string> };
  /** true once the lists came from the server: picker fields then become choices */
  loaded?: boolean;
}

export const EMPTY_LIBRARY: Library = {
  audio: [],
  extensions: [],
  mailboxes: [],
  schedules: [],
  numbers: [],
  queues: [],
  names: { extension: {}, mailbox: {} },
  loaded: false,
};

export interface SchemaFormProps {
  type: string;
  params: Record<string, unknown>;
  onChange: (params: Record<string, unknown>) => void;
  library?: Library;
  serverProblems?: FieldProblem[];
  readOnly?: boolean;
  onPlayAudio?: (name: string) => void;
  onUploadAudio?: (file: File) => Promise<string | null>;
}

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

/** The value a field's input produced, or undefined for "not set" (use the default). */
export function coerce(field: FieldSpec, raw: string): unknown {
  if (raw.trim() === "") return undefined;
  switch (field.kind) {
    case "number":
      return Number(raw);
    case "integer":
      return Number.isInteger(Number(raw)) ? Number(raw) : raw;
    case "text-list":
      return raw
        .split(/[\n,]/)
        .map((s) => s.trim())
        .filter(Boolean);
    case "json":
      return JSON.parse(raw);
    default:
      return raw;
  }
}

function pickerOptions(picker: string | undefined, lib: Library): string[] {
  switch (picker) {
    case "audio":
      return lib.audio;
    case "extension":
      return lib.extensions;
    case "mailbox":
      return lib.mailboxes;
    case "schedule":
      return lib.schedules;
    case "queue":
      return lib.queues ?? [];
    default:
      return [];
  }
}

export function SchemaForm(props: SchemaFormProps) {
  const { type, params, onChange, readOnly } = props;
  const library = props.library ?? EMPTY_LIBRARY;
  const fields = useMemo(() => fieldsFor(type), [type]);
  const problems = useMemo(() => {
    const all = [...validateParams(type, params), ...(props.serverProblems ?? [])];
    const by: Record<string, string> = {};
    for (const p of all) if (!(p.field in by)) by[p.field] = p.message;
    return by;
  }, [type, params, props.serverProblems]);
  const [jsonDrafts, setJsonDrafts] = useState<Record<string, string>>({});
  const [jsonErrors, setJsonErrors] = useState<Record<string, string>>({});
  const [uploading, setUploading] = useState(false);

  const set = (name: string, value: unknown) => {
    const next = { ...params };
    if (value === undefined) delete next[name];
    else next[name] = value;
    onChange(next);
  };

  if (!fields.length) return <p className="muted">{T.editor.noSettings}</p>;

  return (
    <div className="schema-form">
      {fields.map((f) => {
        const id = `f-${f.name}`;
        const value = params[f.name];
        const problem = problems[f.name] ?? jsonErrors[f.name];
        const common = {
          id,
          name: f.name,
          disabled: readOnly,
          "aria-invalid": problem ? true : undefined,
          "aria-describedby": problem ? `${id}-problem` : undefined,
        };
        const placeholder =
          f.default !== undefined && f.default !== null && typeof f.default !== "object"
            ? String(f.default)
            : "";
        let input: React.ReactNode;
        switch (f.kind) {
          case "boolean":
            input = (
              <input
                {...common}
                type="checkbox"
                checked={(value as boolean | undefined) ?? Boolean(f.default)}
                onChange={(e) => set(f.name, e.target.checked)}
              />
            );
            break;
          case "choice":
            input = (
              <select
                {...common}
                value={(value as string | undefined) ?? ""}
                onChange={(e) => set(f.name, e.target.value || undefined)}
              >
                <option value="">
                  {f.default != null ? T.editor.byDefault(String(f.default)) : T.editor.none}
                </option>
                {f.options.map((o) => (
                  <option key={o} value={o}>
                    {o}
                  </option>
                ))}
              </select>
            );
            break;
          case "number":
          case "integer":
            input = (
              <input
                {...common}
                type="number"
                step={f.kind === "integer" ? 1 : "any"}
                min={f.min}
                max={f.max}
                placeholder={placeholder}
                value={value === undefined || value === null ? "" : String(value)}
                onChange={(e) => set(f.name, coerce(f, e.target.value))}
              />
            );
            break;
          case "text-list":
            input = (
              <textarea
                {...common}
                rows={3}
                placeholder={f.name === "numbers" ? library.numbers.join("\n") : T.editor.onePerLine}
                value={Array.isArray(value) ? value.join("\n") : ""}
                onChange={(e) => set(f.name, coerce(f, e.target.value))}
              />
            );
            break;
          case "member-list":
            input = (
              <MemberList
                id={id}
                value={Array.isArray(value) ? value : []}
                extensions={library.extensions}
                disabled={readOnly}
                onChange={(v) => set(f.name, v.length ? v : undefined)}
              />
            );
            break;
          case "week-hours":
            input = (
              <WeekHours
                id={id}
                value={(value as Record<string, string[][]> | null | undefined) ?? null}
                disabled={readOnly}
                onChange={(v) => set(f.name, v)}
              />
            );
            break;
          case "json":
            input = (
              <textarea
                {...common}
                rows={3}
                placeholder={f.default === undefined ? "JSON" : JSON.stringify(f.default)}
                value={jsonDrafts[f.name] ?? (value === undefined ? "" : JSON.stringify(value))}
                onChange={(e) => {
                  const text = e.target.value;
                  setJsonDrafts({ ...jsonDrafts, [f.name]: text });
                  try {
                    set(f.name, coerce(f, text));
                    setJsonErrors({ ...jsonErrors, [f.name]: "" });
                  } catch {
                    setJsonErrors({ ...jsonErrors, [f.name]: T.editor.notJson });
                  }
                }}
              />
            );
            break;
          default: {
            const picker = f.picker ?? PICKERS[f.name];
            const options = pickerOptions(picker, library);
            const isAudio = picker === "audio";
            const current = (value as string | undefined) ?? "";
            const names = picker === "extension" || picker === "mailbox" ? (library.names?.[picker] ?? {}) : {};
            input = (
              <span className="with-actions">
                {picker && library.loaded ? (
                  // a picker: what exists (the current value too, marked when it does not)
                  <select {...common} value={current} onChange={(e) => set(f.name, e.target.value || undefined)}>
                    <option value="">
                      {f.default != null && f.default !== "" ? T.editor.byDefault(String(f.default)) : T.editor.pick}
                    </option>
                    {current && !options.includes(current) && <option value={current}>{T.editor.missing(current)}</option>}
                    {options.map((o) => (
                      <option key={o} value={o}>
                        {names[o] ? `${o} ${names[o]}` : o}
                      </option>
                    ))}
                  </select>
                ) : (
                  <input
                    {...common}
                    type="text"
                    placeholder={placeholder}
                    pattern={f.pattern}
                    value={current}
                    onChange={(e) => set(f.name, coerce(f, e.target.value))}
                  />
                )}
                {isAudio && props.onPlayAudio && (
                  <button
                    type="button"
                    className="icon-btn"
                    aria-label={T.editor.play(f.label)}
                    disabled={!((value as string | undefined) ?? f.default)}
                    onClick={() => props.onPlayAudio?.(String(value ?? f.default))}
                  >
                    ▶
                  </button>
                )}
                {isAudio && props.onUploadAudio && !readOnly && (
                  <label className="upload-btn">
                    {uploading ? T.editor.uploading : T.editor.uploadAudio}
                    <input
                      type="file"
                      accept="audio/*"
                      aria-label={T.editor.uploadFor(f.label)}
                      onChange={async (e) => {
                        const file = e.target.files?.[0];
                        if (!file) return;
                        setUploading(true);
                        try {
                          const name = await props.onUploadAudio?.(file);
                          if (name) set(f.name, name);
                        } finally {
                          setUploading(false);
                        }
                      }}
                    />
                  </label>
                )}
              </span>
            );
          }
        }
        return (
          <div className={`field field-${f.kind}${problem ? " has-problem" : ""}`} key={f.name}>
            <label htmlFor={id}>
              {f.label}
              {f.required && <span aria-hidden="true"> *</span>}
            </label>
            {input}
            {f.help && (
              <div className="muted help" id={`${id}-help`}>
                {f.help}
              </div>
            )}
            {problem && (
              <div className="problem" id={`${id}-problem`} role="alert">
                {problem}
              </div>
            )}
          </div>
        );
      })}
    </div>
  );
}

type Member = string | { extension: string; penalty?: number };

function MemberList(props: {
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

function WeekHours(props: {
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
