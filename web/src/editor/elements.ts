// The palette: the element types of SPEC §3 with their seed names, colours and icons.
// Settings and outputs come from the flow JSON Schema (schema.ts), not from here.

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
    label: "My numbers",
    color: "#2563eb",
    icon: "M4 4h16v4H4zM4 10h16v4H4zM4 16h16v4H4z",
    hint: "Where calls to your numbers enter the flow",
  },
  {
    type: "call_phone",
    label: "Call to phone",
    color: "#059669",
    icon: "M6 2h12v20H6zM9 18h6",
    hint: "Ring an outside number, such as a mobile",
  },
  {
    type: "call_sip",
    label: "Call to SIP",
    color: "#0d9488",
    icon: "M3 6h18v12H3zM7 10h10M7 14h6",
    hint: "Ring an extension's phones",
  },
  {
    type: "voicemail",
    label: "Voice Mail",
    color: "#7c3aed",
    icon: "M6 9a3 3 0 1 0 0.01 0zM18 9a3 3 0 1 0 0.01 0zM6 15h12",
    hint: "Leave or listen to messages",
  },
  {
    type: "play",
    label: "Play audio",
    color: "#d97706",
    icon: "M7 4l12 8-12 8z",
    hint: "Play a greeting or announcement",
  },
  {
    type: "menu",
    label: "Voice menu",
    color: "#db2777",
    icon: "M5 5h4v4H5zM10 5h4v4h-4zM15 5h4v4h-4zM5 10h4v4H5zM10 10h4v4h-4zM15 10h4v4h-4zM10 15h4v4h-4z",
    hint: "Press 1 for sales, 2 for support…",
  },
  {
    type: "time_routing",
    label: "Time routing",
    color: "#0891b2",
    icon: "M12 3a9 9 0 1 0 0.01 0zM12 7v5l3 3",
    hint: "Different paths in and out of office hours",
  },
  {
    type: "queue",
    label: "Queue",
    color: "#4f46e5",
    icon: "M4 8h4v12H4zM10 8h4v12h-4zM16 8h4v12h-4zM4 4h16",
    hint: "Callers wait for the next free operator",
  },
  {
    type: "http_notify",
    label: "HTTP notification",
    color: "#65a30d",
    icon: "M3 12h14M13 6l6 6-6 6",
    hint: "Tell your CRM about the call",
  },
  {
    type: "caller_lookup",
    label: "Caller name lookup",
    color: "#0369a1",
    icon: "M10 4a6 6 0 1 0 0.01 0zM14.5 14.5L20 20",
    hint: "Look the caller's name up by number",
  },
  {
    type: "caller_id",
    label: "Change suffix/prefix",
    color: "#9333ea",
    icon: "M4 12h6M7 9v6M14 12h6",
    hint: "Rewrite the caller's number or name",
  },
  {
    type: "email",
    label: "Email notification",
    color: "#ea580c",
    icon: "M3 6h18v12H3zM3 6l9 7 9-7",
    hint: "Send an email about the call",
  },
  {
    type: "history_routing",
    label: "Routing by call history",
    color: "#0f766e",
    icon: "M4 12a8 8 0 1 0 3-6.2M4 4v4h4",
    hint: "Ring whoever talked to this caller last",
  },
  {
    type: "hangup",
    label: "Hang up",
    color: "#dc2626",
    icon: "M3 14c5-5 13-5 18 0l-3 3-3-2v-3a10 10 0 0 0-6 0v3l-3 2z",
    hint: "End the call",
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

// Human labels for output handles.
export const OUTPUT_LABELS: Record<string, string> = {
  next: "next",
  answered: "answered",
  no_answer: "no answer",
  busy: "busy",
  failed: "failed",
  offline: "offline",
  recorded: "recorded",
  no_message: "no message",
  done: "done",
  timeout: "timeout",
  invalid: "invalid",
  true: "office hours",
  false: "closed",
  full: "full",
  empty: "empty",
  exit: "exit",
  default: "default",
  not_found: "not found",
};
