// The flow JSON Schema exported by flowpbx.flow.model.flow_json_schema() drives the editor:
// which settings an element has (and their kinds, defaults, limits), which outputs it has,
// and whether its settings are valid. Nothing here re-types the settings by hand.
import type { ErrorObject } from "ajv";
import rawSchema from "../generated/flow-schema.json";
import * as COMPILED from "../generated/flow-validators.js";
import type { ParamsValidator } from "../generated/flow-validators.js";
import { patternSentence, sentence } from "../lib/messages";
import { T } from "../lib/text";
import type { FlowNode } from "./types";

export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  minLength?: number;
  pattern?: string;
  format?: string;
  [key: string]: unknown;
};

type FlowSchema = JsonSchema & {
  $defs: Record<string, JsonSchema>;
  "x-outputs": Record<string, string[] | Record<string, string[]>>;
  "x-menu-keys": string[];
};

export const SCHEMA = rawSchema as unknown as FlowSchema;
export const MENU_KEYS: string[] = SCHEMA["x-menu-keys"];

export function resolve(s: JsonSchema): JsonSchema {
  if (s.$ref) {
    const name = s.$ref.split("/").pop() as string;
    return resolve(SCHEMA.$defs[name]);
  }
  return s;
}

/** The node definition ({type, params, next}) of an element type. */
function nodeDef(type: string): JsonSchema | undefined {
  return Object.values(SCHEMA.$defs).find(
    (d) => (d.properties?.type as JsonSchema | undefined)?.const === type,
  );
}

export function elementTypes(): string[] {
  return Object.keys(SCHEMA["x-outputs"]);
}

/** The params schema of an element type. */
export function paramsSchema(type: string): JsonSchema {
  const def = nodeDef(type);
  if (!def?.properties?.params) throw new Error(`unknown element type ${type}`);
  return resolve(def.properties.params);
}

/** Whether the node itself requires params (so an empty element is incomplete). */
export type FieldKind =
  | "text"
  | "number"
  | "integer"
  | "boolean"
  | "choice"
  | "text-list"
  | "member-list"
  | "week-hours"
  | "json";

export interface FieldSpec {
  name: string;
  label: string;
  kind: FieldKind;
  required: boolean;
  nullable: boolean;
  default: unknown;
  options: string[];
  min?: number;
  max?: number;
  pattern?: string;
  help?: string;
  picker?: string; // x-picker: audio, extension, mailbox, schedule, queue
}

function prettify(title: string | undefined, name: string): string {
  const t = (title ?? name).replace(/ S$/, " (s)");
  return t.charAt(0).toUpperCase() + t.slice(1);
}

function fieldKind(s: JsonSchema): { kind: FieldKind; options: string[] } {
  if (s.enum) return { kind: "choice", options: s.enum.map(String) };
  switch (s.type) {
    case "string":
      return { kind: "text", options: [] };
    case "number":
      return { kind: "number", options: [] };
    case "integer":
      return { kind: "integer", options: [] };
    case "boolean":
      return { kind: "boolean", options: [] };
    case "array": {
      const item = s.items ? resolve(s.items) : {};
      if (item.type === "string" && !item.enum) return { kind: "text-list", options: [] };
      if (item.anyOf?.some((a) => resolve(a).properties?.extension))
        return { kind: "member-list", options: [] };
      return { kind: "json", options: [] };
    }
    case "object": {
      const names = (s.propertyNames as JsonSchema | undefined)?.enum;
      if (names && names.includes("mon")) return { kind: "week-hours", options: names.map(String) };
      return { kind: "json", options: [] };
    }
    default:
      return { kind: "json", options: [] };
  }
}

/** The form fields of an element's settings: required first, then in the schema's x-order. */
export function fieldsFor(type: string): FieldSpec[] {
  const ps = paramsSchema(type);
  const required = new Set(ps.required ?? []);
  const order = (name: string) => {
    const o = (ps.properties?.[name] as JsonSchema | undefined)?.["x-order"];
    return (required.has(name) ? 0 : 1000) + (typeof o === "number" ? o : 500);
  };
  const names = Object.keys(ps.properties ?? {});
  const sorted = names
    .map((name, i) => ({ name, i }))
    .sort((a, b) => order(a.name) - order(b.name) || a.i - b.i)
    .map(({ name }) => [name, (ps.properties ?? {})[name]] as const);
  return sorted.map(([name, raw]) => {
    let s = resolve(raw);
    let nullable = false;
    if (s.anyOf) {
      const nonNull = s.anyOf.filter((a) => a.type !== "null");
      nullable = nonNull.length < s.anyOf.length;
      if (nonNull.length === 1) s = { ...resolve(nonNull[0]), title: raw.title };
    }
    const { kind, options } = fieldKind(s);
    const min = s.minimum ?? s.exclusiveMinimum;
    return {
      name,
      label: prettify(raw.title, name),
      kind,
      required: required.has(name),
      nullable,
      default: raw.default ?? s.default,
      options,
      min: typeof min === "number" ? min : undefined,
      max: typeof s.maximum === "number" ? s.maximum : undefined,
      pattern: s.pattern,
      help: raw.description ?? s.description,
      picker: typeof raw["x-picker"] === "string" ? raw["x-picker"] : undefined,
    };
  });
}

/** Whether an element type has settings it cannot do without. */
export function hasRequiredParams(type: string): boolean {
  return (paramsSchema(type).required ?? []).length > 0;
}

// ------------------------------------------------------------------ validation

// Compiled at build time (scripts/build_validators.mjs): no code is generated in the
// browser, so the page's Content-Security-Policy needs no 'unsafe-eval'.
const VALIDATORS: Record<string, ParamsValidator | undefined> = COMPILED;

function validatorFor(type: string): ParamsValidator {
  const v = VALIDATORS[type];
  if (!v) throw new Error(`unknown element type ${type}`);
  return v;
}

export interface FieldProblem {
  field: string; // dotted path inside params ("" = the whole params)
  message: string;
}

function describe(e: ErrorObject): FieldProblem {
  const path = e.instancePath.replace(/^\//, "").replace(/\//g, ".");
  if (e.keyword === "required") {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    return { field: path ? `${path}.${missing}` : missing, message: T.editor.required };
  }
  if (e.keyword === "additionalProperties") {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    return { field: extra, message: T.editor.unknownSetting };
  }
  if (e.keyword === "pattern") {
    return { field: path, message: patternSentence((e.params as { pattern: string }).pattern) };
  }
  return { field: path, message: e.message ? sentence(e.message, path) : T.editor.invalidValue };
}

/** Settings problems of one element, judged by the schema (the server has the last word). */
export function validateParams(type: string, params: Record<string, unknown>): FieldProblem[] {
  const v = validatorFor(type);
  if (v(params)) return [];
  const seen = new Set<string>();
  const out: FieldProblem[] = [];
  for (const e of v.errors ?? []) {
    if (e.keyword === "anyOf" || e.keyword === "if") continue;
    const p = describe(e);
    const top = p.field.split(".")[0];
    if (seen.has(top)) continue;
    seen.add(top);
    out.push({ ...p, field: top });
  }
  return out;
}

// ------------------------------------------------------------------ outputs

/** The outputs of a node, in display order (menu: its keys, then timeout/invalid). */
export function outputsOf(node: FlowNode): string[] {
  const spec = SCHEMA["x-outputs"][node.type];
  if (node.type === "voicemail") {
    const byMode = spec as Record<string, string[]>;
    const mode = (node.params.mode as string | undefined) ?? "leave";
    return byMode[mode] ?? byMode.leave;
  }
  const fixed = (spec as string[] | undefined) ?? [];
  if (node.type === "menu") return [...menuKeys(node), ...fixed];
  return fixed;
}

/** Keys of a menu: declared in params.keys plus connected key outputs, in keypad order. */
export function menuKeys(node: FlowNode): string[] {
  const declared = (node.params.keys as string[] | undefined) ?? [];
  const keys = new Set<string>(declared);
  for (const k of Object.keys(node.next)) if (MENU_KEYS.includes(k)) keys.add(k);
  const order = "1234567890*#";
  return [...keys].sort((a, b) => order.indexOf(a) - order.indexOf(b));
}
