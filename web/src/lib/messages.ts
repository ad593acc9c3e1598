// Validator messages (the server's and the schema's) as sentences a person reads: no API
// paths, no regular expressions. `fieldProblems` keys them by the field they are about, so a
// form shows each next to its field.

/** A sentence for what `pattern` asks for. */
export function patternSentence(pattern: string): string {
  const p = pattern;
  let m = /^\^(?:\\d|\[0-9\])\{(\d+),(\d+)\}\$$/.exec(p);
  if (m) return `Use ${m[1]} to ${m[2]} digits`;
  m = /^\^(?:\\d|\[0-9\])\{(\d+)\}\$$/.exec(p);
  if (m) return `Use exactly ${m[1]} digits`;
  if (/\[01\]\\d|\\d\{2\}:|\\d:\[0-5\]/.test(p) || p.includes(":[0-5]")) return "Enter a time like 09:00";
  if (p === "^[1-9][0-9]{0,3}$") return "Use 1 to 4 digits, not starting with 0";
  if (p.startsWith("^[0-9]{1,6}(\\.[0-9]{1,3})?(:")) return "Enter calls per second like 5 or 2.5, optionally with a burst like 5:10";
  if (p.startsWith("^\\+?[0-9]{2,")) return "Enter a phone number like +37167000001";
  if (p.startsWith("^\\+?[0-9]*")) return "Use digits only, optionally starting with +";
  if (p === "^[0-9]*$" || p === "^\\d*$") return "Use digits only";
  if (p.startsWith("^https?://")) return "Enter a web address starting with http:// or https://";
  if (p.includes("[0-9*#")) return "Use only the keys 0-9, * and #";
  if (p.includes("@")) return p.includes("[^@") ? "Enter an email address like anna@example.com" : "Use letters, digits, and . _ @ - only";
  if (p.startsWith("^[A-Za-z0-9]"))
    return `Start with a letter or digit; then use letters, digits${p.includes(" ") ? ", spaces" : ""} and ${p.includes(".") ? ". " : ""}_ - only`;
  if (p.includes("^/") || p.includes("[^/")) return "Do not use / or control characters";
  return "This is not in the expected form";
}

const plural = (n: string, one: string, many: string) => (n === "1" ? `1 ${one}` : `${n} ${many}`);

/** One validator message (pydantic's or ajv's) as a sentence. `field` helps pick the words. */
export function sentence(message: string, field = ""): string {
  const msg = message.replace(/^Value error, /, "").trim();
  let m: RegExpExecArray | null;
  if ((m = /(?:should|must) match pattern ['"](.+)['"]$/.exec(msg))) return patternSentence(m[1]);
  if (/^times must be HH:MM/.test(msg)) return "Enter a time like 09:00";
  if ((m = /^must be (\d+)-(\d+) digits$/.exec(msg))) return `Use ${m[1]} to ${m[2]} digits`;
  if ((m = /(?:must NOT have fewer than|should have at least) (\d+) items?/.exec(msg))) {
    if (/days?$/.test(field)) return `Choose at least ${plural(m[1], "day", "days")}`;
    if (m[1] === "2" && /hours|^\d+$|^(mon|tue|wed|thu|fri|sat|sun)/.test(field))
      return "Enter a range like 09:00-17:00";
    return `Add at least ${plural(m[1], "entry", "entries")}`;
  }
  if ((m = /(?:must NOT have more than|should have at most) (\d+) items?/.exec(msg)))
    return `Use at most ${plural(m[1], "entry", "entries")}`;
  if ((m = /(?:must NOT have fewer than|should have at least) (\d+) characters?/.exec(msg)))
    return m[1] === "1" ? "This cannot be empty" : `Enter at least ${m[1]} characters`;
  if ((m = /^must be at least (\d+) characters/.exec(msg))) return `Enter at least ${m[1]} characters`;
  if ((m = /(?:must NOT have more than|should have at most) (\d+) characters?/.exec(msg)))
    return `Use at most ${m[1]} characters`;
  if ((m = /(?:must be >=|greater than or equal to) (-?[\d.]+)/.exec(msg))) return `Enter ${m[1]} or more`;
  if ((m = /(?:must be <=|less than or equal to) (-?[\d.]+)/.exec(msg))) return `Enter ${m[1]} or less`;
  if ((m = /(?:must be >|greater than) (-?[\d.]+)/.exec(msg))) return `Enter more than ${m[1]}`;
  if ((m = /(?:must be <|less than) (-?[\d.]+)/.exec(msg))) return `Enter less than ${m[1]}`;
  if (/^Field required$|must have required property/.test(msg)) return "This is required";
  if (/valid integer|must be integer/.test(msg)) return "Enter a whole number";
  if (/valid number|must be number/.test(msg)) return "Enter a number";
  if (/Extra inputs are not permitted|must NOT have additional properties/.test(msg))
    return "This setting is not known";
  if (/must be equal to one of the allowed values|Input should be '/.test(msg)) return "Choose one of the offered values";
  if (/E\.164/.test(msg)) return "Enter a phone number like +37167000001";
  if (/unknown time zone/.test(msg)) return "Enter a time zone like Europe/Riga";
  if (/is not an email address|valid email/.test(msg)) return "Enter an email address like anna@example.com";
  return msg.charAt(0).toUpperCase() + msg.slice(1);
}

/** The field a problem path names: "body.pin" → "pin", "body.hours.mon.0" → "hours". */
export function fieldOf(path: string): string {
  const parts = path.split(".").filter((p) => p && p !== "body" && p !== "query" && p !== "path");
  return parts[0] ?? "";
}

export interface PathMessage {
  path: string;
  message: string;
}

function isPathMessages(d: unknown): d is PathMessage[] {
  return (
    Array.isArray(d) &&
    d.every((x) => x && typeof x === "object" && typeof (x as PathMessage).message === "string")
  );
}

/** Field → sentence for each problem in an API error's details (first one per field). */
export function fieldProblems(details: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isPathMessages(details)) return out;
  for (const d of details) {
    const path = String(d.path ?? (d as { field?: string }).field ?? "");
    const field = fieldOf(path);
    if (!(field in out)) out[field] = sentence(d.message, path.split(".").slice(1).join("."));
  }
  return out;
}

const LABELS: Record<string, string> = {
  number: "Number",
  name: "Name",
  pin: "PIN",
  email: "Email",
  password: "Password",
  mailbox: "Mailbox",
  caller_id: "Caller ID",
  timezone: "Time zone",
  hours: "Opening hours",
  holidays: "Holidays",
  supervisor: "Supervisor extension",
  username: "User name",
};

/** A readable one-line text for an API error message and its details (no paths, no regexes). */
export function readableError(message: string, details: unknown): string {
  const byField = fieldProblems(details);
  const entries = Object.entries(byField);
  if (entries.length) {
    return entries
      .map(([f, s]) => (f ? `${LABELS[f] ?? f.charAt(0).toUpperCase() + f.slice(1).replace(/_/g, " ")}: ${s}` : s))
      .join(". ");
  }
  // "body.name: String should match pattern '...'" without details
  const m = /^(?:body|query|path)\.([\w.]+): (.+)$/.exec(message);
  if (m) {
    const f = fieldOf(m[1]);
    return `${LABELS[f] ?? f}: ${sentence(m[2], m[1])}`;
  }
  return message;
}
