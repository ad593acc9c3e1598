// The editor's keyboard shortcuts and the unsaved-changes guard.
import { useEffect, useRef } from "react";
import { guardLeaving } from "../lib/leaveGuard";
import type { FlowDocument } from "./useFlowDocument";

/** Ctrl+Z undo, Ctrl+Shift+Z / Ctrl+Y redo, Ctrl+S save (not while typing in a field). */
export function useEditorKeys(fd: FlowDocument, readOnly: boolean) {
  const { undo, redo, save } = fd;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
      if (!(e.ctrlKey || e.metaKey)) return;
      const k = e.key.toLowerCase();
      if (k === "z" && !e.shiftKey) undo();
      else if ((k === "z" && e.shiftKey) || k === "y") redo();
      else if (k === "s" && !readOnly) void save();
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [undo, redo, save, readOnly]);
}

/** While the editor is open, leaving with unsaved changes (a link, Back/Forward, closing the
 * tab) asks first. */
export function useUnsavedGuard(fd: FlowDocument, readOnly: boolean) {
  const unsaved = useRef(false);
  unsaved.current = fd.dirty && !readOnly;
  useEffect(() => guardLeaving(() => unsaved.current), []);
}
