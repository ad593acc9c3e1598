import { T } from "../lib/text";

// The palette: the element types of SPEC §3 with their seed names, colours and icons.
// Names and hints are in lib/text.ts. Settings and outputs come from the flow JSON Schema
// (schema.ts), not from here.

export interface ElementInfo {
  type: string;
  label: string; // seed name
  color: string;
  icon: string; // SVG path data, 24x24 viewBox
  hint: string;
}

export const ELEMENTS: ElementInfo[] = [
  {
    type: "numbers",
    label: T.elements.numbers.label,
    color: "#2563eb",
    icon: "M4 4h16v4H4zM4 10h16v4H4zM4 16h16v4H4z",
    hint: T.elements.numbers.hint,
  },
  {
    type: "call_phone",
    label: T.elements.call_phone.label,
    color: "#059669",
    icon: "M6 2h12v20H6zM9 18h6",
    hint: T.elements.call_phone.hint,
  },
  {
    type: "call_sip",
    label: T.elements.call_sip.label,
    color: "#0d9488",
    icon: "M3 6h18v12H3zM7 10h10M7 14h6",
    hint: T.elements.call_sip.hint,
  },
  {
    type: "voicemail",
    label: T.elements.voicemail.label,
    color: "#7c3aed",
    icon: "M6 9a3 3 0 1 0 0.01 0zM18 9a3 3 0 1 0 0.01 0zM6 15h12",
    hint: T.elements.voicemail.hint,
  },
  {
    type: "play",
    label: T.elements.play.label,
    color: "#d97706",
    icon: "M7 4l12 8-12 8z",
    hint: T.elements.play.hint,
  },
  {
    type: "menu",
    label: T.elements.menu.label,
    color: "#db2777",
    icon: "M5 5h4v4H5zM10 5h4v4h-4zM15 5h4v4h-4zM5 10h4v4H5zM10 10h4v4h-4zM15 10h4v4h-4zM10 15h4v4h-4z",
    hint: T.elements.menu.hint,
  },
  {
    type: "time_routing",
    label: T.elements.time_routing.label,
    color: "#0891b2",
    icon: "M12 3a9 9 0 1 0 0.01 0zM12 7v5l3 3",
    hint: T.elements.time_routing.hint,
  },
  {
    type: "queue",
    label: T.elements.queue.label,
    color: "#4f46e5",
    icon: "M4 8h4v12H4zM10 8h4v12h-4zM16 8h4v12h-4zM4 4h16",
    hint: T.elements.queue.hint,
  },
  {
    type: "http_notify",
    label: T.elements.http_notify.label,
    color: "#65a30d",
    icon: "M3 12h14M13 6l6 6-6 6",
    hint: T.elements.http_notify.hint,
  },
  {
    type: "caller_lookup",
    label: T.elements.caller_lookup.label,
    color: "#0369a1",
    icon: "M10 4a6 6 0 1 0 0.01 0zM14.5 14.5L20 20",
    hint: T.elements.caller_lookup.hint,
  },
  {
    type: "caller_id",
    label: T.elements.caller_id.label,
    color: "#9333ea",
    icon: "M4 12h6M7 9v6M14 12h6",
    hint: T.elements.caller_id.hint,
  },
  {
    type: "email",
    label: T.elements.email.label,
    color: "#ea580c",
    icon: "M3 6h18v12H3zM3 6l9 7 9-7",
    hint: T.elements.email.hint,
  },
  {
    type: "history_routing",
    label: T.elements.history_routing.label,
    color: "#0f766e",
    icon: "M4 12a8 8 0 1 0 3-6.2M4 4v4h4",
    hint: T.elements.history_routing.hint,
  },
  {
    type: "hangup",
    label: T.elements.hangup.label,
    color: "#dc2626",
    icon: "M3 14c5-5 13-5 18 0l-3 3-3-2v-3a10 10 0 0 0-6 0v3l-3 2z",
    hint: T.elements.hangup.hint,
  },
];

export const ELEMENT_BY_TYPE: Record<string, ElementInfo> = Object.fromEntries(
  ELEMENTS.map((e) => [e.type, e]),
);

// Which library a string setting picks from (a UI hint; the schema says it is a string).
export type Picker = "audio" | "extension" | "mailbox" | "schedule" | "number" | "queue";
export const PICKERS: Record<string, Picker> = {
  audio: "audio",
  prompt: "audio",
  greeting: "audio",
  invalid_prompt: "audio",
  hold_audio: "audio",
  extension: "extension",
  mailbox: "mailbox",
  schedule: "schedule",
};

// Human labels for output handles (text.ts).
export const OUTPUT_LABELS: Record<string, string> = T.outputs;
