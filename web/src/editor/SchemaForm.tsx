// The settings panel of one element, generated from the flow JSON Schema (schema.ts).
// Library pickers (audio, extensions, mailboxes, schedules) are UI hints on string settings.
import { useMemo, useState } from "react";
import { T } from "../lib/text";
import { fieldsFor, validateParams, type FieldProblem, type FieldSpec } from "./schema";
import { MemberList, WeekHours } from "./FieldWidgets";
import { PickerField } from "./PickerField";

export { formatIntervals, parseIntervals } from "./FieldWidgets";

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
          default:
            input = (
              <PickerField
                common={common}
                field={f}
                value={value}
                placeholder={placeholder}
                library={library}
                readOnly={readOnly}
                onSet={(v) => set(f.name, v)}
                onPlayAudio={props.onPlayAudio}
                onUploadAudio={props.onUploadAudio}
              />
            );
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
