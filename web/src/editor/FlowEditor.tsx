// The call-flow editor: palette, canvas, settings panel, problems, draft/publish, simulate.
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  type Connection,
  type EdgeChange,
  type NodeChange,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, errorText, get, post, put } from "../lib/api";
import { sentence } from "../lib/messages";
import { T } from "../lib/text";
import { ELEMENTS, ELEMENT_BY_TYPE } from "./elements";
import { ElementNode, Icon } from "./ElementNode";
import * as H from "./history";
import {
  addMenuKey,
  addNode,
  applyAutoLayout,
  diffFlows,
  type FlowDiff,
  connect,
  disconnect,
  flowToCanvas,
  freeSpot,
  litEdgesOf,
  moveNode,
  newNodeId,
  normalizeDoc,
  removeNode,
  renameNode,
  setParams,
  type ElementRFNode,
} from "./mapping";
import { SchemaForm, EMPTY_LIBRARY, type Library } from "./SchemaForm";
import { MENU_KEYS, menuKeys, validateParams } from "./schema";
import { SimulatePanel } from "./SimulatePanel";
import { TESTABLE_TYPES, TestRequest } from "./TestRequest";
import type { FlowDoc, Problem, TraceEntry } from "./types";

const NODE_TYPES = { element: ElementNode };
const DND_TYPE = "application/x-flowpbx-element";

interface FlowOut {
  name: string;
  draft: FlowDoc;
  published_revision: number | null;
  draft_changed: boolean;
}

interface Revision {
  number: number;
  author: string | null;
  message: string | null;
  created_at: string;
  published: boolean;
}

export function playAudio(name: string): HTMLAudioElement {
  const audio = new Audio(`/api/v1/audio/${encodeURIComponent(name)}/file`);
  void audio.play().catch(() => undefined);
  return audio;
}

async function loadLibrary(): Promise<Library> {
  const safe = async <T,>(path: string): Promise<T[]> => {
    try {
      return await get<T[]>(path);
    } catch {
      return [];
    }
  };
  const [audio, exts, boxes, scheds, nums] = await Promise.all([
    safe<{ name: string }>("/audio"),
    safe<{ number: string }>("/extensions"),
    safe<{ number: string }>("/mailboxes"),
    safe<{ name: string }>("/schedules"),
    safe<{ number: string }>("/numbers"),
  ]);
  return {
    audio: audio.map((a) => a.name),
    extensions: exts.map((e) => e.number),
    mailboxes: boxes.map((m) => m.number),
    schedules: scheds.map((s) => s.name),
    numbers: nums.map((n) => n.number),
  };
}

export function FlowEditor(props: { name: string; readOnly: boolean; onBack: () => void }) {
  return (
    <ReactFlowProvider>
      <Editor {...props} />
    </ReactFlowProvider>
  );
}

function Editor({ name, readOnly, onBack }: { name: string; readOnly: boolean; onBack: () => void }) {
  const rf = useReactFlow();
  const [hist, setHist] = useState<H.History<FlowDoc> | null>(null);
  const [savedDoc, setSavedDoc] = useState<FlowDoc | null>(null);
  const [loadError, setLoadError] = useState("");
  // One banner at a time: a success replaces an earlier error and the other way round.
  const [banner, setBanner] = useState<{ ok: boolean; text: string } | null>(null);
  const status = banner?.ok ? banner.text : "";
  const error = banner && !banner.ok ? banner.text : "";
  const setStatus = useCallback((text: string) => setBanner(text ? { ok: true, text } : null), []);
  const setError = useCallback(
    (text: string) => setBanner((b) => (text ? { ok: false, text } : b?.ok ? b : null)),
    [],
  );
  const [selected, setSelected] = useState<string | null>(null);
  const [serverProblems, setServerProblems] = useState<Problem[] | null>(null);
  const [library, setLibrary] = useState<Library>(EMPTY_LIBRARY);
  const [side, setSide] = useState<"settings" | "simulate" | "revisions">("settings");
  const [steps, setSteps] = useState<TraceEntry[]>([]);
  const [publishMsg, setPublishMsg] = useState("");
  const [publishedRev, setPublishedRev] = useState<number | null>(null);
  const [revisions, setRevisions] = useState<Revision[]>([]);
  const [diff, setDiff] = useState<{ revision: number; diff: FlowDiff } | null>(null);
  const [newKey, setNewKey] = useState("1");
  const [dragging, setDragging] = useState(false);
  const [fitOnLoad, setFitOnLoad] = useState(false);
  const [measured, setMeasured] = useState<Record<string, { width: number; height: number }>>({});

  const doc = hist?.present ?? null;
  const docRef = useRef<FlowDoc | null>(null);
  docRef.current = doc;

  useEffect(() => {
    let alive = true;
    get<FlowOut>(`/flows/${encodeURIComponent(name)}`)
      .then((f) => {
        if (!alive) return;
        const d = normalizeDoc(f.draft, name);
        setHist(H.start(d));
        setSavedDoc(d);
        setPublishedRev(f.published_revision);
        setFitOnLoad(Object.keys(d.nodes).length > 0);
      })
      .catch((e) => alive && setLoadError(errorText(e)));
    void loadLibrary().then((l) => alive && setLibrary(l));
    return () => {
      alive = false;
    };
  }, [name]);

  const edit = useCallback(
    (fn: (d: FlowDoc) => FlowDoc, undoable = true) => {
      setHist((h) => (h ? (undoable ? H.commit(h, fn(h.present)) : H.replace(h, fn(h.present))) : h));
      // "Draft saved" / "Published" no longer describe what is on the canvas
      if (undoable) setBanner((b) => (b?.ok ? null : b));
    },
    [],
  );

  // Problems per node: the schema's judgement of settings now, plus the server's last verdict
  // (errors block publishing; warnings, such as an unconnected output, are notes).
  const [problems, warnings] = useMemo(() => {
    const by: Record<string, string[]> = {};
    const notes: Record<string, string[]> = {};
    if (!doc) return [by, notes];
    for (const [id, node] of Object.entries(doc.nodes)) {
      if (!ELEMENT_BY_TYPE[node.type]) continue;
      for (const p of validateParams(node.type, node.params))
        (by[id] ??= []).push(`${p.field}: ${p.message}`);
    }
    for (const p of serverProblems ?? []) {
      if (!p.node || !(p.node in doc.nodes)) continue;
      if (p.level === "warning") {
        (notes[p.node] ??= []).push(p.message);
        continue;
      }
      const list = (by[p.node] ??= []);
      const field = p.field?.replace(/^params\./, "") ?? "";
      if (!list.some((m) => m.startsWith(`${field}:`))) list.push(p.message);
    }
    return [by, notes];
  }, [doc, serverProblems]);

  const canvas = useMemo(() => {
    if (!doc) return { nodes: [], edges: [] };
    const c = flowToCanvas(doc, {
      problems,
      warnings,
      lit: steps.map((s) => s.node),
      litEdges: litEdgesOf(doc, steps),
    });
    for (const n of c.nodes) {
      n.selected = n.id === selected;
      if (measured[n.id]) n.measured = measured[n.id];
    }
    return c;
  }, [doc, problems, warnings, steps, selected, measured]);

  const onNodesChange = useCallback(
    (changes: NodeChange<ElementRFNode>[]) => {
      for (const c of changes) {
        if (c.type === "position" && c.position) {
          const pos = c.position;
          if (c.dragging && !dragging) {
            setDragging(true);
            edit((d) => moveNode(d, c.id, pos), true);
          } else {
            edit((d) => moveNode(d, c.id, pos), false);
          }
          if (!c.dragging) setDragging(false);
        } else if (c.type === "position" && c.dragging === false) {
          setDragging(false);
        } else if (c.type === "select") {
          if (c.selected) {
            setSelected(c.id);
            setSide((s) => (s === "revisions" ? "settings" : s));
          } else setSelected((s) => (s === c.id ? null : s));
        } else if (c.type === "remove" && !readOnly) {
          edit((d) => removeNode(d, c.id));
        } else if (c.type === "dimensions" && c.dimensions) {
          const dims = c.dimensions;
          setMeasured((m) => ({ ...m, [c.id]: dims }));
        }
      }
    },
    [edit, dragging, readOnly],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => {
      for (const c of changes) {
        if (c.type === "remove" && !readOnly) {
          const i = c.id.lastIndexOf(":");
          edit((d) => disconnect(d, c.id.slice(0, i), c.id.slice(i + 1)));
        }
      }
    },
    [edit, readOnly],
  );

  const onConnect = useCallback(
    (c: Connection) => {
      if (readOnly || !c.sourceHandle) return;
      edit((d) => connect(d, c.source, c.sourceHandle as string, c.target));
    },
    [edit, readOnly],
  );

  const placeElement = useCallback(
    (type: string, at?: { x: number; y: number }) => {
      const current = docRef.current;
      if (!current) return;
      const pos =
        at ??
        freeSpot(current, rf.screenToFlowPosition({ x: window.innerWidth / 2, y: window.innerHeight / 2 }));
      const id = newNodeId(current, type);
      edit((d) => addNode(d, type, pos, id)[0]);
      setSelected(id);
      setSide("settings");
    },
    [edit, rf],
  );

  const save = useCallback(async (): Promise<boolean> => {
    if (!doc) return false;
    setError("");
    try {
      await put(`/flows/${encodeURIComponent(name)}`, doc);
      setSavedDoc(doc);
      setStatus(T.editor.saved);
      return true;
    } catch (e) {
      setError(errorText(e));
      return false;
    }
  }, [doc, name]);

  const validate = useCallback(async () => {
    if (!doc) return;
    setError("");
    try {
      const r = await post<{ ok: boolean; errors: Problem[]; warnings?: Problem[] }>(
        `/flows/${encodeURIComponent(name)}/validate`,
        doc,
      );
      setServerProblems([
        ...r.errors.map((p) => ({ ...p, level: "error" as const })),
        ...(r.warnings ?? []).map((p) => ({ ...p, level: "warning" as const })),
      ]);
      setStatus(r.ok ? T.editor.noProblems : "");
    } catch (e) {
      setError(errorText(e));
    }
  }, [doc, name]);

  const publish = useCallback(async () => {
    if (!(await save())) return;
    try {
      const r = await post<{ revision: number }>(`/flows/${encodeURIComponent(name)}/publish`, {
        message: publishMsg || undefined,
      });
      setPublishedRev(r.revision);
      setServerProblems([]);
      setPublishMsg("");
      setStatus(T.editor.publishedRevision(r.revision));
    } catch (e) {
      const details = (e as { details?: unknown }).details;
      if (Array.isArray(details)) setServerProblems(details as Problem[]);
      setError(errorText(e));
    }
  }, [save, name, publishMsg]);

  const loadRevisions = useCallback(async () => {
    try {
      setRevisions(await get<Revision[]>(`/flows/${encodeURIComponent(name)}/revisions`));
    } catch (e) {
      setError(errorText(e));
    }
  }, [name]);

  const compare = async (n: number) => {
    if (!doc) return;
    try {
      const r = await get<{ document: FlowDoc }>(
        `/flows/${encodeURIComponent(name)}/revisions/${n}`,
      );
      setDiff({ revision: n, diff: diffFlows(normalizeDoc(r.document, name), doc) });
    } catch (e) {
      setError(errorText(e));
    }
  };

  const rollback = async (n: number) => {
    try {
      const r = await post<{ revision: number }>(`/flows/${encodeURIComponent(name)}/rollback`, {
        revision: n,
      });
      const f = await get<FlowOut>(`/flows/${encodeURIComponent(name)}`);
      const d = normalizeDoc(f.draft, name);
      setHist((h) => (h ? H.commit(h, d) : H.start(d)));
      setSavedDoc(d);
      setPublishedRev(r.revision);
      setStatus(T.editor.rolledBack(n));
      void loadRevisions();
    } catch (e) {
      setError(errorText(e));
    }
  };

  // Unsaved changes: the browser asks before the page is left or reloaded, and a click on
  // a link of the page (the sidebar) asks first too.
  const dirtyNow = !!doc && savedDoc !== doc && !readOnly;
  useEffect(() => {
    if (!dirtyNow) return;
    const onUnload = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = "";
    };
    const onClick = (e: MouseEvent) => {
      const a = (e.target as HTMLElement | null)?.closest?.("a[href^='#']");
      if (!a || a.closest(".react-flow")) return;
      if (!window.confirm(T.editor.leaveUnsaved)) {
        e.preventDefault();
        e.stopPropagation();
      }
    };
    window.addEventListener("beforeunload", onUnload);
    document.addEventListener("click", onClick, true);
    return () => {
      window.removeEventListener("beforeunload", onUnload);
      document.removeEventListener("click", onClick, true);
    };
  }, [dirtyNow]);

  // Keyboard shortcuts: Ctrl+Z undo, Ctrl+Shift+Z / Ctrl+Y redo, Ctrl+S save.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
      if (!(e.ctrlKey || e.metaKey)) return;
      const k = e.key.toLowerCase();
      if (k === "z" && !e.shiftKey) setHist((h) => (h ? H.undo(h) : h));
      else if ((k === "z" && e.shiftKey) || k === "y") setHist((h) => (h ? H.redo(h) : h));
      else if (k === "s" && !readOnly) void save();
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [save, readOnly]);

  if (loadError)
    return (
      <div className="page">
        <div className="error" role="alert">
          {loadError}
        </div>
        <button onClick={onBack}>{T.flows.title}</button>
      </div>
    );
  if (!doc || !hist) return <div className="page">{T.common.loading}</div>;

  const node = selected ? doc.nodes[selected] : undefined;
  const dirty = savedDoc !== doc;
  const allProblems: { node: string | null; message: string; warning?: boolean }[] = [];
  for (const [id, msgs] of Object.entries(problems))
    for (const m of msgs) allProblems.push({ node: id, message: m.startsWith(id) ? m : `${id}: ${m}` });
  for (const p of serverProblems ?? [])
    if (!p.node && p.level !== "warning") allProblems.push(p);
  for (const p of serverProblems ?? [])
    if (p.level === "warning") allProblems.push({ node: p.node, message: p.message, warning: true });
  const errorCount = allProblems.filter((p) => !p.warning).length;

  return (
    <div className="editor">
      <div className="toolbar" role="toolbar" aria-label={T.editor.toolbar}>
        <button
          onClick={() => (!dirtyNow || window.confirm(T.editor.leaveUnsaved)) && onBack()}
          aria-label={T.editor.back}
        >
          ←
        </button>
        <h1>{name}</h1>
        <span className="muted">
          {publishedRev ? T.editor.revisionPublished(publishedRev) : T.flows.draft}
          {dirty ? ` · ${T.editor.unsaved}` : ""}
        </span>
        <span className="spacer" />
        <button onClick={() => setHist(H.undo(hist))} disabled={!hist.past.length} title={T.editor.keyUndo}>
          {T.editor.undo}
        </button>
        <button onClick={() => setHist(H.redo(hist))} disabled={!hist.future.length} title={T.editor.keyRedo}>
          {T.editor.redo}
        </button>
        <button onClick={() => edit(applyAutoLayout)} disabled={readOnly}>
          {T.editor.layout}
        </button>
        {!readOnly && (
          <button onClick={() => void save()} title={T.editor.keySave}>
            {T.editor.save}
          </button>
        )}
        <button onClick={() => void validate()}>{T.editor.validate}</button>
        <button onClick={() => setSide("simulate")}>{T.editor.simulate}</button>
        <button
          onClick={() => {
            setSide("revisions");
            void loadRevisions();
          }}
        >
          {T.editor.revisions}
        </button>
        {!readOnly && (
          <>
            <input
              aria-label={T.editor.publishMessage}
              placeholder={T.editor.publishMessage}
              value={publishMsg}
              onChange={(e) => setPublishMsg(e.target.value)}
            />
            <button className="primary" onClick={() => void publish()}>
              {T.editor.publish}
            </button>
          </>
        )}
      </div>
      {(status || error) && (
        <div className={error ? "banner error" : "banner ok"} role={error ? "alert" : "status"}>
          {error || status}
        </div>
      )}
      <div className="editor-body">
        {!readOnly && (
          <nav className="palette" aria-label={T.editor.palette}>
            <h2>{T.editor.palette}</h2>
            <p className="muted">{T.editor.paletteHint}</p>
            {ELEMENTS.map((el) => (
              <div
                key={el.type}
                className="palette-item"
                draggable
                tabIndex={0}
                role="button"
                data-testid={`palette-${el.type}`}
                title={el.hint}
                onDragStart={(e) => {
                  e.dataTransfer.setData(DND_TYPE, el.type);
                  e.dataTransfer.effectAllowed = "move";
                }}
                onKeyDown={(e) => {
                  if (e.key === "Enter" || e.key === " ") {
                    e.preventDefault();
                    placeElement(el.type);
                  }
                }}
              >
                <Icon path={el.icon} color={el.color} />
                <span>{el.label}</span>
              </div>
            ))}
          </nav>
        )}
        <div
          className="canvas"
          data-testid="canvas"
          onDragOver={(e) => {
            e.preventDefault();
            e.dataTransfer.dropEffect = "move";
          }}
          onDrop={(e) => {
            e.preventDefault();
            const type = e.dataTransfer.getData(DND_TYPE);
            if (!type || readOnly) return;
            placeElement(type, rf.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
          }}
        >
          <ReactFlow
            nodes={canvas.nodes}
            edges={canvas.edges}
            nodeTypes={NODE_TYPES}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            nodesDraggable={!readOnly}
            nodesConnectable={!readOnly}
            deleteKeyCode={readOnly ? null : ["Delete", "Backspace"]}
            fitView={fitOnLoad}
            fitViewOptions={{ maxZoom: 1 }}
            minZoom={0.2}
            proOptions={{ hideAttribution: true }}
          >
            <Background />
            <Controls />
            <MiniMap
              pannable
              zoomable
              nodeColor={(n) => ELEMENT_BY_TYPE[(n.data as ElementRFNode["data"]).node.type]?.color ?? "#94a3b8"}
              ariaLabel={T.editor.minimap}
            />
          </ReactFlow>
        </div>
        {side === "simulate" && (
          <SimulatePanel
            flowName={name}
            doc={doc}
            onSteps={setSteps}
            onClose={() => {
              setSteps([]);
              setSide("settings");
            }}
          />
        )}
        {side === "revisions" && (
          <aside className="side-panel" aria-label={T.editor.revisions}>
            <header>
              <h2>{T.editor.revisions}</h2>
              <button className="icon-btn" aria-label={T.common.close} onClick={() => setSide("settings")}>
                ✕
              </button>
            </header>
            <ul className="revisions">
              {revisions.map((r) => (
                <li key={r.number}>
                  <strong>#{r.number}</strong> {r.message ?? ""}{" "}
                  <span className="muted">
                    {r.author ?? ""} {new Date(r.created_at).toLocaleString()}
                  </span>
                  <span className="row-actions">
                    <button onClick={() => void compare(r.number)}>{T.editor.compare}</button>
                    {!readOnly && (
                      <button onClick={() => void rollback(r.number)}>{T.editor.rollback} #{r.number}</button>
                    )}
                  </span>
                </li>
              ))}
            </ul>
            {diff && (
              <section className="diff" aria-label={T.editor.changesSince(diff.revision)}>
                <h3>{T.editor.comparedWith(diff.revision)}</h3>
                {!diff.diff.added.length && !diff.diff.removed.length && !diff.diff.changed.length && (
                  <p className="muted">{T.editor.noChanges}</p>
                )}
                <ul>
                  {diff.diff.added.map((id) => (
                    <li key={`a-${id}`} className="added">+ {id}</li>
                  ))}
                  {diff.diff.removed.map((id) => (
                    <li key={`r-${id}`} className="removed">− {id}</li>
                  ))}
                  {diff.diff.changed.map((c) => (
                    <li key={`c-${c.id}`}>
                      ~ {c.id}
                      <ul>
                        {c.what.map((w) => (
                          <li key={w}>
                            <code>{w}</code>
                          </li>
                        ))}
                      </ul>
                    </li>
                  ))}
                </ul>
              </section>
            )}
          </aside>
        )}
        {side === "settings" && node && selected && (
          <aside className="side-panel settings" aria-label={T.editor.settings}>
            <header>
              <h2>
                <Icon path={ELEMENT_BY_TYPE[node.type]?.icon ?? ""} color={ELEMENT_BY_TYPE[node.type]?.color ?? "#000"} />{" "}
                {ELEMENT_BY_TYPE[node.type]?.label ?? node.type}
              </h2>
              <button className="icon-btn" aria-label={T.common.close} onClick={() => setSelected(null)}>
                ✕
              </button>
            </header>
            <RenameField
              key={selected}
              id={selected}
              taken={Object.keys(doc.nodes)}
              disabled={readOnly}
              onRename={(to) => {
                edit((d) => renameNode(d, selected, to));
                setSelected(to);
              }}
            />
            <SchemaForm
              key={`${selected}-form`}
              type={node.type}
              params={node.params}
              readOnly={readOnly}
              library={library}
              serverProblems={(serverProblems ?? [])
                .filter((p) => p.node === selected && p.field?.startsWith("params."))
                .map((p) => ({
                  field: (p.field as string).slice(7).split(".")[0],
                  message: sentence(p.message, (p.field as string).slice(7)),
                }))}
              onChange={(params) => edit((d) => setParams(d, selected, params))}
              onPlayAudio={(n) => playAudio(n)}
              onUploadAudio={async (file) => {
                const base = file.name.replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9_-]+/g, "-");
                const form = new FormData();
                form.append("name", base);
                form.append("file", file);
                try {
                  await api("POST", "/audio", form);
                  setLibrary(await loadLibrary());
                  return base;
                } catch (e) {
                  setError(errorText(e));
                  return null;
                }
              }}
            />
            {TESTABLE_TYPES.includes(node.type) && !readOnly && (
              <TestRequest key={`${selected}-test`} node={node} flow={doc.name} />
            )}
            {node.type === "menu" && !readOnly && (
              <div className="add-key">
                <label htmlFor="new-key">{T.editor.addKey}</label>
                <select id="new-key" value={newKey} onChange={(e) => setNewKey(e.target.value)}>
                  {MENU_KEYS.filter((k) => !menuKeys(node).includes(k)).map((k) => (
                    <option key={k} value={k}>
                      {k}
                    </option>
                  ))}
                </select>
                <button onClick={() => edit((d) => addMenuKey(d, selected, newKey))}>
                  {T.editor.addKey}
                </button>
              </div>
            )}
            {!readOnly && (
              <button
                className="danger"
                onClick={() => {
                  edit((d) => removeNode(d, selected));
                  setSelected(null);
                }}
              >
                {T.editor.deleteNode}
              </button>
            )}
          </aside>
        )}
      </div>
      <section className="problems" aria-label={T.editor.problems} data-testid="problems">
        <h2>
          {T.editor.problems} ({errorCount})
        </h2>
        {allProblems.length === 0 ? (
          <p className="muted">{T.editor.noProblems}</p>
        ) : (
          <ul>
            {allProblems.map((p, i) => (
              <li key={i} className={p.warning ? "warning" : "error"}>
                {p.warning ? T.editor.note : ""}
                <button
                  className="link"
                  onClick={() => p.node && p.node in doc.nodes && setSelected(p.node)}
                >
                  {p.message}
                </button>
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

function RenameField(props: {
  id: string;
  taken: string[];
  disabled: boolean;
  onRename: (to: string) => void;
}) {
  const [value, setValue] = useState(props.id);
  const bad = value !== props.id && (props.taken.includes(value) || !/^[A-Za-z0-9_-]{1,100}$/.test(value));
  return (
    <div className="field">
      <label htmlFor="node-id">{T.editor.nodeId}</label>
      <input
        id="node-id"
        value={value}
        disabled={props.disabled}
        aria-invalid={bad || undefined}
        onChange={(e) => setValue(e.target.value)}
        onBlur={() => !bad && value !== props.id && props.onRename(value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !bad && value !== props.id) props.onRename(value);
        }}
      />
      {bad && <div className="problem">{T.editor.badName}</div>}
    </div>
  );
}
