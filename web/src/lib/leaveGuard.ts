// Leaving a page with unsaved work: a page registers a check ("is there unsaved work?");
// the router asks before any route change (a sidebar link, the browser's Back/Forward, a
// button that navigates), and the browser asks before the tab is closed or reloaded.
import { T } from "./text";

let unsaved: (() => boolean) | null = null;
let approved = false;

/** Register `isUnsaved` while a page is open; returns the function that removes it. */
export function guardLeaving(isUnsaved: () => boolean): () => void {
  unsaved = isUnsaved;
  const onUnload = (e: BeforeUnloadEvent) => {
    if (!isUnsaved()) return;
    e.preventDefault();
    e.returnValue = "";
  };
  window.addEventListener("beforeunload", onUnload);
  return () => {
    window.removeEventListener("beforeunload", onUnload);
    if (unsaved === isUnsaved) {
      unsaved = null;
      approved = false;
    }
  };
}

/** True when the route may change now: nothing unsaved, or the user agreed to lose it. */
export function confirmLeaving(): boolean {
  if (approved || !unsaved?.()) return true;
  approved = window.confirm(T.editor.leaveUnsaved);
  return approved;
}
