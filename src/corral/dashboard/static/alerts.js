// Alerts: a toast on the page, and a browser notification when the person allowed them, for the
// transitions that need a person: a server leaves `healthy`, a circuit opens, an execution fails.
// Each kind can be muted; the choice is remembered in localStorage.

import { onEvent } from "./live.js";

export const KINDS = {
  server_down: "A server leaves healthy",
  circuit_open: "A circuit opens",
  execution_failed: "An execution fails",
};
const MUTED_KEY = "corral.muted";
const TOAST_MS = 8000;

export const toasts = { items: [], listeners: new Set() };
let nextId = 1;

export function muted() {
  try {
    return new Set(JSON.parse(localStorage.getItem(MUTED_KEY) || "[]"));
  } catch {
    return new Set();
  }
}

export function setMuted(kind, value) {
  const set = muted();
  if (value) set.add(kind);
  else set.delete(kind);
  localStorage.setItem(MUTED_KEY, JSON.stringify([...set]));
}

export function toast(tone, title, body, kind) {
  const item = { id: nextId++, tone, title, body, kind };
  toasts.items = [...toasts.items.slice(-4), item];
  for (const listener of toasts.listeners) listener();
  setTimeout(() => dismiss(item.id), TOAST_MS);
}

export function dismiss(id) {
  toasts.items = toasts.items.filter((item) => item.id !== id);
  for (const listener of toasts.listeners) listener();
}

function alert(kind, title, body, tag) {
  if (muted().has(kind)) return;
  toast(kind === "execution_failed" || kind === "circuit_open" ? "bad" : "warn", title, body, kind);
  if (typeof Notification !== "undefined" && Notification.permission === "granted" && document.hidden !== false) {
    try {
      new Notification(title, { body, tag });
    } catch {
      // Some browsers allow notifications only from a service worker: the toast is enough there.
    }
  }
}

export function startAlerts() {
  onEvent((event, before) => {
    const data = event.data || {};
    if (event.type === "server.status") {
      if (before && before.status === "healthy" && data.status !== "healthy") {
        alert("server_down", `${event.subject} is ${String(data.status || "unknown").replaceAll("_", " ")}`,
          String(data.detail || ""), `server:${event.subject}`);
      }
    } else if (event.type === "server.circuit" && data.to === "open") {
      alert("circuit_open", `Circuit open: ${event.subject}`, "calls to it are refused until it recovers",
        `circuit:${event.subject}`);
    } else if (event.type === "execution.failed") {
      alert("execution_failed", `Execution failed: ${event.subject}`, String(data.error || ""),
        `execution:${event.subject}`);
    }
  });
}

