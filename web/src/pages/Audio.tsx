import { useRef, useState } from "react";
import { authHeaders, del, errorText } from "../lib/api";
import { T } from "../lib/text";
import { useApi } from "../lib/useApi";
import { AudioPlayer } from "./AudioPlayer";
import { Page, Table } from "./common";

interface AudioItem {
  name: string;
  builtin: boolean;
  duration_s: number | null;
  used_by: string[];
}

/** Upload with progress (XMLHttpRequest reports upload progress, fetch does not). */
function upload(name: string, file: File, onProgress: (f: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/audio");
    for (const [k, v] of Object.entries(authHeaders("POST"))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      if (xhr.status < 300) return resolve();
      let msg = `HTTP ${xhr.status}`;
      try {
        msg = JSON.parse(xhr.responseText).error.message ?? msg;
      } catch {
        // keep the status
      }
      reject(new Error(msg));
    };
    xhr.onerror = () => reject(new Error(T.audio.networkError));
    const form = new FormData();
    form.append("name", name);
    form.append("file", file);
    xhr.send(form);
  });
}

export function AudioLibrary({ readOnly }: { readOnly: boolean }) {
  const { data, error, reload } = useApi<AudioItem[]>("/audio");
  const [name, setName] = useState("");
  const [progress, setProgress] = useState<number | null>(null);
  const [msg, setMsg] = useState("");
  const [playing, setPlaying] = useState<string | null>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  return (
    <Page title={T.audio.title}>
      {!readOnly && (
        <form
          className="inline"
          onSubmit={async (e) => {
            e.preventDefault();
            const file = fileRef.current?.files?.[0];
            if (!file) return;
            const n = name || file.name.replace(/\.[^.]+$/, "");
            setMsg("");
            setProgress(0);
            try {
              await upload(n, file, setProgress);
              setName("");
              if (fileRef.current) fileRef.current.value = "";
              reload();
            } catch (err) {
              setMsg(errorText(err));
            } finally {
              setProgress(null);
            }
          }}
        >
          <label htmlFor="audio-name">{T.audio.name}</label>
          <input id="audio-name" value={name} onChange={(e) => setName(e.target.value)} />
          <label htmlFor="audio-file">{T.audio.file}</label>
          <input id="audio-file" type="file" accept="audio/*" ref={fileRef} required />
          <button className="primary">{T.audio.upload}</button>
          {progress !== null && <progress value={progress} max={1} aria-label={T.audio.progress} />}
        </form>
      )}
      {msg && (
        <div className="error" role="alert">
          {msg}
        </div>
      )}
      <Table
        label={T.audio.title}
        rows={data}
        error={error}
        rowKey={(a) => a.name}
        columns={[
          { title: T.audio.name, render: (a) => a.name + (a.builtin ? T.audio.builtin : "") },
          { title: T.audio.duration, render: (a) => (a.duration_s != null ? T.common.seconds(a.duration_s.toFixed(1)) : "") },
          { title: T.col.used_by, render: (a) => (a.used_by ?? []).join(", ") },
          {
            title: T.common.play,
            render: (a) =>
              playing === a.name ? (
                <AudioPlayer
                  name={a.name}
                  url={`/api/v1/audio/${encodeURIComponent(a.name)}/file`}
                  testId={`player-${a.name}`}
                />
              ) : (
                <button onClick={() => setPlaying(a.name)} aria-label={T.audio.play(a.name)}>
                  ▶ {T.common.play}
                </button>
              ),
          },
          {
            title: "",
            render: (a) =>
              !readOnly &&
              !a.builtin && (
                <button
                  className="danger"
                  onClick={async () => {
                    try {
                      await del(`/audio/${encodeURIComponent(a.name)}`);
                      reload();
                    } catch (err) {
                      setMsg(errorText(err));
                    }
                  }}
                >
                  {T.common.delete}
                </button>
              ),
          },
        ]}
      />
    </Page>
  );
}
