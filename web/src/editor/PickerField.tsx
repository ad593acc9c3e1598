// One text setting of the settings form: a picker of what exists (audio, extensions,
// mailboxes, schedules, queues) once the lists are loaded, else a text input; audio also
// gets play and upload buttons.
import { useState } from "react";
import { T } from "../lib/text";
import { PICKERS } from "./elements";
import type { Library } from "./SchemaForm";
import { coerce } from "./SchemaForm";
import type { FieldSpec } from "./schema";

export function pickerOptions(picker: string | undefined, lib: Library): string[] {
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

export function PickerField(props: {
  common: { id: string; name: string; disabled?: boolean; "aria-invalid"?: boolean; "aria-describedby"?: string };
  field: FieldSpec;
  value: unknown;
  placeholder: string;
  library: Library;
  readOnly?: boolean;
  onSet: (v: unknown) => void;
  onPlayAudio?: (name: string) => void;
  onUploadAudio?: (file: File) => Promise<string | null>;
}) {
  const { common, field: f, value, placeholder, library, readOnly } = props;
  const [uploading, setUploading] = useState(false);
  const picker = f.picker ?? PICKERS[f.name];
  const options = pickerOptions(picker, library);
  const isAudio = picker === "audio";
  const current = (value as string | undefined) ?? "";
  const names = picker === "extension" || picker === "mailbox" ? (library.names?.[picker] ?? {}) : {};
  return (
    <span className="with-actions">
      {picker && library.loaded ? (
        // a picker: what exists (the current value too, marked when it does not)
        <select {...common} value={current} onChange={(e) => props.onSet(e.target.value || undefined)}>
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
          onChange={(e) => props.onSet(coerce(f, e.target.value))}
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
                if (name) props.onSet(name);
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
