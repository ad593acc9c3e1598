// A small JSON client for /api/v1. The page is signed in by the HttpOnly session cookie
// that login sets (the page never sees or stores a token): every request carries it, and
// every write echoes the flowpbx_csrf cookie in X-CSRF-Token. So any tab of the same
// browser is signed in the same way, and logging out in one ends the session in all.

import { fieldProblems, readableError } from "./messages";

const CSRF_COOKIE = "flowpbx_csrf";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly id: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
  }
}

/** The value of the flowpbx_csrf cookie (set at login, readable by the page), or "". */
export function csrfToken(): string {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join("="));
  }
  return "";
}

/** Headers every request of the page needs for `method`: X-CSRF-Token on writes. */
export function authHeaders(method: string): Record<string, string> {
  if (SAFE_METHODS.has(method.toUpperCase())) return {};
  const csrf = csrfToken();
  return csrf ? { "X-CSRF-Token": csrf } : {};
}

// Earlier versions kept the login token in sessionStorage: drop what one may have left.
try {
  sessionStorage.removeItem("flowpbx.token");
} catch {
  // storage unavailable: nothing to clean
}

export const UNAUTHORIZED_EVENT = "flowpbx:unauthorized";

async function toError(resp: Response): Promise<ApiError> {
  let id = `http-${resp.status}`;
  let message = resp.statusText || `HTTP ${resp.status}`;
  let details: unknown = null;
  try {
    const body = await resp.json();
    if (body && typeof body === "object" && "error" in body && body.error) {
      id = body.error.id ?? id;
      message = body.error.message ?? message;
      details = body.error.details ?? null;
    }
  } catch {
    // not JSON: keep the status text
  }
  return new ApiError(resp.status, id, message, details);
}

export async function api<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  init: RequestInit = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...authHeaders(method) };
  let payload: BodyInit | undefined;
  if (body instanceof FormData || body instanceof Blob) payload = body; // a Blob sends its type
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const resp = await fetch(`/api/v1${path}`, {
    ...init,
    method,
    headers,
    body: payload,
    credentials: "same-origin",
  });
  if (!resp.ok) {
    const err = await toError(resp);
    if (resp.status === 401 && !path.startsWith("/auth/login")) {
      window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
    }
    throw err;
  }
  if (resp.status === 204) return undefined as T;
  const type = resp.headers.get("content-type") ?? "";
  return (type.includes("json") ? await resp.json() : await resp.text()) as T;
}

export const get = <T,>(path: string) => api<T>("GET", path);
export const post = <T,>(path: string, body?: unknown) => api<T>("POST", path, body);
export const put = <T,>(path: string, body?: unknown) => api<T>("PUT", path, body);
export const del = <T,>(path: string) => api<T>("DELETE", path);

export function errorText(err: unknown): string {
  // validation errors become sentences; others (409 "... already exists") are sentences already
  if (err instanceof ApiError) return err.status === 422 ? readableError(err.message, err.details) : err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Field → sentence for an API validation error (empty for other errors). */
export function fieldErrors(err: unknown): Record<string, string> {
  return err instanceof ApiError && err.status === 422 ? fieldProblems(err.details) : {};
}
