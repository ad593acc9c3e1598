// The editor's document store: the flow being edited with its undo history, what was last
// saved (dirty state), the selection, the server's problems, revisions and the banner.
// Server calls go through flowApi.ts; components get state and actions from here.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { errorText } from "../lib/api";
import { T } from "../lib/text";
import * as F from "./flowApi";
import * as H from "./history";
import { diffFlows, normalizeDoc, type FlowDiff } from "./mapping";
import { EMPTY_LIBRARY, type Library } from "./SchemaForm";
import { nodeProblems, problemList } from "./problems";
import type { FlowDoc, Problem } from "./types";

export type Side = "settings" | "simulate" | "revisions";

export function useFlowDocument(name: string) {
  const [hist, setHist] = useState<H.History<FlowDoc> | null>(null);
  const [savedDoc, setSavedDoc] = useState<FlowDoc | null>(null);
  const [loadError, setLoadError] = useState("");
  // One banner at a time: a success replaces an earlier error and the other way round.
  const [banner, setBanner] = useState<{ ok: boolean; text: string } | null>(null);
  const setStatus = useCallback((text: string) => setBanner(text ? { ok: true, text } : null), []);
  const setError = useCallback(
    (text: string) => setBanner((b) => (text ? { ok: false, text } : b?.ok ? b : null)),
    [],
  );
  const [selected, setSelected] = useState<string | null>(null);
  const [side, setSide] = useState<Side>("settings");
  const [serverProblems, setServerProblems] = useState<Problem[] | null>(null);
  const [library, setLibrary] = useState<Library>(EMPTY_LIBRARY);
  const [publishMsg, setPublishMsg] = useState("");
  const [publishedRev, setPublishedRev] = useState<number | null>(null);
  const [revisions, setRevisions] = useState<F.Revision[]>([]);
  const [diff, setDiff] = useState<{ revision: number; diff: FlowDiff } | null>(null);
  const [fitOnLoad, setFitOnLoad] = useState(false);

  const doc = hist?.present ?? null;
  const docRef = useRef<FlowDoc | null>(null);
  docRef.current = doc;

  useEffect(() => {
    let alive = true;
    F.loadFlow(name)
      .then((f) => {
        if (!alive) return;
        const d = normalizeDoc(f.draft, name);
        setHist(H.start(d));
        setSavedDoc(d);
        setPublishedRev(f.published_revision);
        setFitOnLoad(Object.keys(d.nodes).length > 0);
      })
      .catch((e) => alive && setLoadError(errorText(e)));
    void F.loadLibrary().then((l) => alive && setLibrary(l));
    return () => {
      alive = false;
    };
  }, [name]);

  /** Apply a pure edit; `undoable` false replaces the present (e.g. while dragging). */
  const edit = useCallback((fn: (d: FlowDoc) => FlowDoc, undoable = true) => {
    setHist((h) => (h ? (undoable ? H.commit(h, fn(h.present)) : H.replace(h, fn(h.present))) : h));
    // "Draft saved" / "Published" no longer describe what is on the canvas
    if (undoable) setBanner((b) => (b?.ok ? null : b));
  }, []);
  const undo = useCallback(() => setHist((h) => (h ? H.undo(h) : h)), []);
  const redo = useCallback(() => setHist((h) => (h ? H.redo(h) : h)), []);

  const [problems, warnings] = useMemo(() => nodeProblems(doc, serverProblems), [doc, serverProblems]);

  const save = useCallback(async (): Promise<boolean> => {
    if (!doc) return false;
    setError("");
    try {
      await F.saveDraft(name, doc);
      setSavedDoc(doc);
      setStatus(T.editor.saved);
      return true;
    } catch (e) {
      setError(errorText(e));
      return false;
    }
  }, [doc, name, setError, setStatus]);

  const validate = useCallback(async () => {
    if (!doc) return;
    setError("");
    try {
      const r = await F.validateDraft(name, doc);
      setServerProblems([
        ...r.errors.map((p) => ({ ...p, level: "error" as const })),
        ...(r.warnings ?? []).map((p) => ({ ...p, level: "warning" as const })),
      ]);
      setStatus(r.ok ? T.editor.noProblems : "");
    } catch (e) {
      setError(errorText(e));
    }
  }, [doc, name, setError, setStatus]);

  const publish = useCallback(async () => {
    if (!(await save())) return;
    try {
      const r = await F.publishDraft(name, publishMsg);
      setPublishedRev(r.revision);
      setServerProblems([]);
      setPublishMsg("");
      setStatus(T.editor.publishedRevision(r.revision));
    } catch (e) {
      const details = (e as { details?: unknown }).details;
      if (Array.isArray(details)) setServerProblems(details as Problem[]);
      setError(errorText(e));
    }
  }, [save, name, publishMsg, setError, setStatus]);

  const loadRevisions = useCallback(async () => {
    try {
      setRevisions(await F.listRevisions(name));
    } catch (e) {
      setError(errorText(e));
    }
  }, [name, setError]);

  const compare = async (n: number) => {
    if (!doc) return;
    try {
      const r = await F.loadRevision(name, n);
      setDiff({ revision: n, diff: diffFlows(normalizeDoc(r.document, name), doc) });
    } catch (e) {
      setError(errorText(e));
    }
  };

  const rollback = async (n: number) => {
    try {
      const r = await F.rollbackTo(name, n);
      const d = normalizeDoc((await F.loadFlow(name)).draft, name);
      setHist((h) => (h ? H.commit(h, d) : H.start(d)));
      setSavedDoc(d);
      setPublishedRev(r.revision);
      setStatus(T.editor.rolledBack(n));
      void loadRevisions();
    } catch (e) {
      setError(errorText(e));
    }
  };

  const uploadAudio = async (file: File): Promise<string | null> => {
    try {
      const base = await F.uploadAudio(file);
      setLibrary(await F.loadLibrary());
      return base;
    } catch (e) {
      setError(errorText(e));
      return null;
    }
  };

  const showRevisions = () => {
    setSide("revisions");
    void loadRevisions();
  };

  /** Select a node (null: none); selecting shows its settings instead of the revisions. */
  const select = useCallback((id: string | null) => {
    setSelected(id);
    if (id) setSide((s) => (s === "revisions" ? "settings" : s));
  }, []);

  return {
    name,
    doc,
    docRef,
    loadError,
    status: banner?.ok ? banner.text : "",
    error: banner && !banner.ok ? banner.text : "",
    dirty: !!doc && savedDoc !== doc,
    canUndo: !!hist?.past.length,
    canRedo: !!hist?.future.length,
    selected,
    setSelected,
    select,
    side,
    setSide,
    serverProblems,
    problems,
    warnings,
    problemList: doc ? problemList(problems, serverProblems) : [],
    library,
    publishMsg,
    setPublishMsg,
    publishedRev,
    revisions,
    diff,
    fitOnLoad,
    edit,
    undo,
    redo,
    save,
    validate,
    publish,
    showRevisions,
    compare,
    rollback,
    uploadAudio,
  };
}

export type FlowDocument = ReturnType<typeof useFlowDocument>;
