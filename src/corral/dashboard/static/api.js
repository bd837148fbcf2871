// The hub's REST API as the page uses it: the session it signed in with, and requests that send it.
//
// A page never keeps the token it was handed (a pasted API token, the admin token from the sign-in link,
// a login token): it swaps it at once for a session token (POST /api/v1/auth/session) that signing out
// revokes. The session is kept in localStorage so that other tabs of the same hub are signed in too.

const KEY = "corral.session";

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

export const session = {
  current: load(),
  listeners: new Set(),
  set(value) {
    this.current = value;
    if (value && value.token) localStorage.setItem(KEY, JSON.stringify(value));
    else localStorage.removeItem(KEY);
    for (const listener of this.listeners) listener(value);
  },
};

function load() {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) || "null");
    return value && typeof value.token === "string" ? value : null;
  } catch {
    return null;
  }
}

export async function request(method, path, { body, token, signal } = {}) {
  const headers = { Accept: "application/json" };
  const bearer = token === undefined ? session.current && session.current.token : token;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    credentials: "omit",
    referrerPolicy: "no-referrer",
  });
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    if (response.status === 401 && bearer && session.current && bearer === session.current.token) {
      session.set(null);
    }
    throw new ApiError(response.status, typeof data === "object" ? data : { detail: data });
  }
  return data;
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, body, options) => request("POST", path, { ...options, body });

/** Swap ``token`` for a session of the same role; returns it (and keeps it). */
export async function openSession(token) {
  const opened = await request("POST", "/api/v1/auth/session", { token });
  const value = { token: opened.token, name: opened.name, role: opened.role, expires_at: opened.expires_at };
  session.set(value);
  return value;
}

export async function logIn(username, password) {
  const login = await request("POST", "/api/v1/auth/login", { body: { username, password }, token: null });
  return openSession(login.token);
}

/** Without a stored session: a hub run with --no-auth lets everyone in as a local admin. */
export async function openAnonymously() {
  const who = await request("GET", "/api/v1/auth/whoami", { token: null });
  const value = { token: null, name: who.name, role: who.role, anonymous: true };
  session.set(value);
  return value;
}

export async function signOut() {
  const current = session.current;
  if (current && current.token) {
    await request("DELETE", "/api/v1/auth/session", { token: current.token }).catch(() => null);
  }
  session.set(null);
}

/** A token handed over in the URL fragment (#token=…) by the sign-in link: taken and wiped from the URL. */
export function tokenFromFragment() {
  const match = /^#token=([^&]+)/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, "", location.pathname + "#/");
  return decodeURIComponent(match[1]);
}

const RANK = { viewer: 0, operator: 1, admin: 2 };

export function may(role, minimum) {
  return (RANK[role] ?? -1) >= RANK[minimum];
}
