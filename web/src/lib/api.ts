// A small JSON client for /api/v1: bearer token from the login, errors as ApiError.

const TOKEN_KEY = "flowpbx.token";

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

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
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
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const resp = await fetch(`/api/v1${path}`, { ...init, method, headers, body: payload });
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
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
