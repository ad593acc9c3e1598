// The editor's server calls: one function per /api/v1 request it makes.
import { api, get, post, put } from "../lib/api";
import type { Library } from "./SchemaForm";
import type { FlowDoc, Problem } from "./types";

export interface FlowOut {
  name: string;
  draft: FlowDoc;
  published_revision: number | null;
  draft_changed: boolean;
}

export interface Revision {
  number: number;
  author: string | null;
  message: string | null;
  created_at: string;
  published: boolean;
}

export interface ValidateOut {
  ok: boolean;
  errors: Problem[];
  warnings?: Problem[];
}

const flowPath = (name: string) => `/flows/${encodeURIComponent(name)}`;

export const loadFlow = (name: string) => get<FlowOut>(flowPath(name));
export const saveDraft = (name: string, doc: FlowDoc) => put(flowPath(name), doc);
export const validateDraft = (name: string, doc: FlowDoc) =>
  post<ValidateOut>(`${flowPath(name)}/validate`, doc);
export const publishDraft = (name: string, message: string) =>
  post<{ revision: number }>(`${flowPath(name)}/publish`, { message: message || undefined });
export const listRevisions = (name: string) => get<Revision[]>(`${flowPath(name)}/revisions`);
export const loadRevision = (name: string, n: number) =>
  get<{ document: FlowDoc }>(`${flowPath(name)}/revisions/${n}`);
export const rollbackTo = (name: string, n: number) =>
  post<{ revision: number }>(`${flowPath(name)}/rollback`, { revision: n });

/** Upload an audio file under a name made from its file name; returns that name. */
export async function uploadAudio(file: File): Promise<string> {
  const base = file.name.replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9_-]+/g, "-");
  const form = new FormData();
  form.append("name", base);
  form.append("file", file);
  await api("POST", "/audio", form);
  return base;
}

export function playAudio(name: string): HTMLAudioElement {
  const audio = new Audio(`/api/v1/audio/${encodeURIComponent(name)}/file`);
  void audio.play().catch(() => undefined);
  return audio;
}

/** What the settings pickers offer: names of audio, extensions, mailboxes, ... (empty on error). */
export async function loadLibrary(): Promise<Library> {
  const safe = async <T,>(path: string): Promise<T[]> => {
    try {
      return await get<T[]>(path);
    } catch {
      return [];
    }
  };
  const [audio, exts, boxes, scheds, nums, queues] = await Promise.all([
    safe<{ name: string }>("/audio"),
    safe<{ number: string; name: string }>("/extensions"),
    safe<{ number: string; name: string }>("/mailboxes"),
    safe<{ name: string }>("/schedules"),
    safe<{ number: string }>("/numbers"),
    safe<{ name: string }>("/queues"),
  ]);
  return {
    audio: audio.map((a) => a.name),
    extensions: exts.map((e) => e.number),
    mailboxes: boxes.map((m) => m.number),
    schedules: scheds.map((s) => s.name),
    numbers: nums.map((n) => n.number),
    queues: queues.map((q) => q.name),
    names: {
      extension: Object.fromEntries(exts.map((e) => [e.number, e.name])),
      mailbox: Object.fromEntries(boxes.map((m) => [m.number, m.name])),
    },
    loaded: true,
  };
}
