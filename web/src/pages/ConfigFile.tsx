// Import and export of the configuration as a file: the whole company (/api/v1/config) on
// the Settings page, one flow (/api/v1/flows/{name}/export, /flows/import) on the Flows page.
import { useRef, useState } from "react";
import { api, ApiError, errorText } from "../lib/api";
import { T } from "../lib/text";

/** Let the browser save `text` as a file called `name`. */
export function download(name: string, text: string, type: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The file as a body with its type: YAML unless it ends in .json. */
export async function fileBody(file: File): Promise<Blob> {
  const type = /\.json$/i.test(file.name) ? "application/json" : "application/yaml";
  return new Blob([await file.text()], { type });
}

export async function exportFlow(name: string) {
  const text = await api<string>("GET", `/flows/${encodeURIComponent(name)}/export?format=yaml`);
  download(`${name}.yaml`, text, "application/yaml");
}

/** Problem lines of a refused import (one per path), else the error's sentence. */
function problemLines(x: unknown): string[] {
  if (x instanceof ApiError && Array.isArray(x.details)) {
    const lines = (x.details as unknown[]).map((d) =>
      typeof d === "string"
        ? d
        : `${(d as { path?: string }).path ?? ""}: ${(d as { message?: string }).message ?? ""}`,
    );
    if (lines.length) return lines;
  }
  return [errorText(x)];
}

interface ImportOut {
  changed: Record<string, number>;
  published: Record<string, number>;
}

function summary(r: ImportOut): string {
  const parts = Object.entries(r.changed)
    .filter(([, n]) => n > 0)
    .map(([what, n]) => T.config.changed(n, what));
  const flows = Object.entries(r.published).map(([f, rev]) => `${f} #${rev}`);
  if (flows.length) parts.push(T.config.published(flows.join(", ")));
  return parts.length ? T.config.imported(parts.join(", ")) : T.config.nothing;
}

export function ConfigFile() {
  const fileRef = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; lines: string[]; list?: boolean } | null>(null);

  const exportAs = async (format: "yaml" | "json") => {
    setResult(null);
    try {
      const body = await api<unknown>("GET", `/config?format=${format}`);
      const text = typeof body === "string" ? body : JSON.stringify(body, null, 2);
      download(`flowpbx-config.${format}`, text, format === "json" ? "application/json" : "application/yaml");
    } catch (x) {
      setResult({ ok: false, lines: [errorText(x)] });
    }
  };

  const importFile = async () => {
    const file = fileRef.current?.files?.[0];
    if (!file) return setResult({ ok: false, lines: [T.config.pickFile] });
    setBusy(true);
    setResult(null);
    try {
      const r = await api<ImportOut>("POST", "/config", await fileBody(file));
      setResult({ ok: true, lines: [summary(r)] });
    } catch (x) {
      setResult({ ok: false, lines: problemLines(x), list: x instanceof ApiError && Array.isArray(x.details) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card settings-form" aria-labelledby="config-file-h">
      <h2 id="config-file-h">{T.config.title}</h2>
      <p className="muted">{T.config.note}</p>
      <div className="row-actions">
        <button type="button" onClick={() => void exportAs("yaml")}>
          {T.config.exportYaml}
        </button>
        <button type="button" onClick={() => void exportAs("json")}>
          {T.config.exportJson}
        </button>
      </div>
      <div className="field">
        <label htmlFor="config-file">{T.config.file}</label>
        <input id="config-file" type="file" accept=".yaml,.yml,.json,application/json,application/yaml" ref={fileRef} />
      </div>
      <button type="button" className="primary" disabled={busy} onClick={() => void importFile()}>
        {busy ? T.config.importing : T.config.import}
      </button>
      {result && (
        <div className={result.ok ? "banner ok" : "error"} role={result.ok ? "status" : "alert"}>
          {result.list ? (
            <>
              <p>{T.config.problems}</p>
              <ul>
                {result.lines.map((l, i) => (
                  <li key={i}>{l}</li>
                ))}
              </ul>
            </>
          ) : (
            result.lines.join(" ")
          )}
        </div>
      )}
    </section>
  );
}

/** "Import flow" on the Flows page: one flow file, saved and published. */
export function ImportFlow(props: { onDone: (text: string) => void; onError: (text: string) => void }) {
  const fileRef = useRef<HTMLInputElement>(null);
  return (
    <form
      className="inline"
      aria-label={T.config.importFlow}
      onSubmit={async (e) => {
        e.preventDefault();
        const file = fileRef.current?.files?.[0];
        if (!file) return props.onError(T.config.pickFile);
        try {
          const r = await api<{ name: string; revision: number }>("POST", "/flows/import", await fileBody(file));
          props.onDone(T.config.flowImported(r.name, r.revision));
          if (fileRef.current) fileRef.current.value = "";
        } catch (x) {
          props.onError(problemLines(x).join("; "));
        }
      }}
    >
      <label htmlFor="flow-file">{T.config.flowFile}</label>
      <input id="flow-file" type="file" accept=".yaml,.yml,.json" ref={fileRef} />
      <button type="submit">{T.config.importFlow}</button>
    </form>
  );
}
