// The page's live state: one WebSocket to /ws/events (batched), a snapshot then events, applied by
// idempotent reducers. Views read `live` and re-render when `subscribe` tells them something changed;
// nothing here polls. After a cut the socket reconnects by itself with the last event id it applied,
// so the hub replays what was missed (or says `reset` and sends a new snapshot).

import { get } from "./api.js";
import { afterClose } from "./closing.js";
import { applyWorkEvent, applyWorkSnapshot } from "./work.js";
import { applyExecutionEvent } from "./runs.js";

const RECENT = 200;              // messages kept for the event window
const HEALTH_POINTS = 60;        // health checks kept per server for its sparkline
const METRICS_POINTS = 24 * 720; // one day of ticks every 5 s
const AUDIT_KEPT = 200;

export const live = {
  servers: new Map(),    // name → server view, as GET /api/v1/servers gives it
  health: new Map(),     // name → [{t, ms, ok}] newest last
  executions: new Map(), // id → execution (unfinished ones from the snapshot, then any seen in events)
  steps: new Map(),      // execution id → Map(step key → {status, attempt, error, progress…})
  metrics: [],           // [{t, calls_per_s, error_rate, p95_ms, open_circuits, running_executions}]
  audit: [],             // newest first
  tasks: new Map(),      // id → task (unfinished ones from the snapshot, then any seen in events or read)
  agents: new Map(),     // id → agent with its load, from the snapshot
  nodes: new Map(),      // name → node with its inventory
  messages: [],          // the last RECENT messages, newest last, for the event window
  lastEventId: null,
  state: "idle",         // idle | connecting | open | reconnecting | closed
  closeReason: "",
  closeCode: null,
  notice: "",            // what the banner says about the last close
  resets: 0,             // how many times the hub said our last event id was too old (views re-read then)
  asOf: null,            // when the page last heard from the hub (ms)
  attempts: 0,
  paused: false,         // the event window's pause: it stops recording messages, not applying them
  version: 0,
};

const listeners = new Set();
const eventListeners = new Set();
let notifyQueued = false;

export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Every applied event, for views that need more than the state (an execution page, alerts); a server
 * event comes with the server as it was before it. */
export function onEvent(listener) {
  eventListeners.add(listener);
  return () => eventListeners.delete(listener);
}

function changed() {
  live.version++;
  if (notifyQueued) return;
  notifyQueued = true;
  queueMicrotask(() => {
    notifyQueued = false;
    for (const listener of listeners) listener(live.version);
  });
}

// -- the socket ------------------------------------------------------------------------------------

let socket = null;
let token = null;
let retryTimer = null;
let onUnauthorized = () => {};

export function connect(sessionToken, { unauthorized } = {}) {
  token = sessionToken;
  if (unauthorized) onUnauthorized = unauthorized;
  open();
}

export function disconnect() {
  clearTimeout(retryTimer);
  const closing = socket;
  socket = null;
  if (closing) closing.close(1000, "signed out");
  live.state = "closed";
  changed();
}

export function reconnectNow() {
  clearTimeout(retryTimer);
  if (socket) {
    const closing = socket;
    socket = null;
    closing.close(1000, "reconnect");
  }
  live.attempts = 0;
  open();
}

function open() {
  const params = new URLSearchParams({ batch: "1" });
  if (live.lastEventId !== null) params.set("last_event_id", String(live.lastEventId));
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/ws/events?${params}`;
  const ws = token ? new WebSocket(url, ["bearer", token]) : new WebSocket(url);
  socket = ws;
  live.state = live.asOf === null ? "connecting" : "reconnecting";
  changed();
  ws.onopen = () => {
    if (socket !== ws) return;
    live.attempts = 0;
  };
  ws.onmessage = (message) => {
    if (socket !== ws) return;
    receive(message.data, ws);
  };
  ws.onclose = (closed) => {
    if (socket !== ws) return;
    socket = null;
    live.closeReason = closed.reason || `closed (${closed.code})`;
    live.closeCode = closed.code;
    const next = afterClose(closed.code, closed.reason, live.attempts);
    if (next.signIn) {
      live.state = "closed";
      changed();
      onUnauthorized();
      return;
    }
    live.state = "reconnecting";
    live.notice = next.notice;
    live.attempts++;
    changed();
    retryTimer = setTimeout(open, next.delayMs);
  };
}

function receive(data, ws) {
  let message;
  try {
    message = JSON.parse(data);
  } catch {
    return;
  }
  if (!message || typeof message !== "object") return;
  live.asOf = Date.now();
  if (live.state !== "open" && message.type !== "ping") live.state = "open";
  switch (message.type) {
    case "ping":
      ws.send(JSON.stringify({ type: "pong" }));
      if (live.state !== "open") live.state = "open";
      record(message);
      break;
    case "snapshot":
      applySnapshot(message);
      record({ type: "snapshot", last_event_id: message.last_event_id });
      break;
    case "reset":
      // The events since our last id are no longer kept: the snapshot that follows replaces the state.
      resetting = true;
      live.resets++;
      record(message);
      break;
    case "events":
      if (Array.isArray(message.events)) for (const event of message.events) applyEvent(event);
      break;
    default:
      if (typeof message.id === "number") applyEvent(message);
      else record(message);
  }
  changed();
}

function record(message) {
  if (live.paused) return;
  live.messages.push({ at: Date.now(), message });
  if (live.messages.length > RECENT) live.messages.splice(0, live.messages.length - RECENT);
}

// -- reducers --------------------------------------------------------------------------------------

let resetting = false;

function applySnapshot(snapshot) {
  if (resetting) {
    // What the page learnt from events may be stale: unfinished executions and tasks not in the snapshot
    // ended meanwhile, and steps and audit entries have gaps. Views re-read their pages (live.resets).
    resetting = false;
    if (Array.isArray(snapshot.executions)) live.executions.clear();
    if (Array.isArray(snapshot.tasks)) live.tasks.clear();
    live.steps.clear();
    live.audit.length = 0;
  }
  applyWorkSnapshot(live, snapshot);
  if (Array.isArray(snapshot.servers)) {
    const seen = new Set();
    for (const server of snapshot.servers) {
      if (!server || typeof server.name !== "string") continue;
      seen.add(server.name);
      live.servers.set(server.name, server);
      seedHealth(server);
    }
    for (const name of [...live.servers.keys()]) if (!seen.has(name)) live.servers.delete(name);
  }
  if (Array.isArray(snapshot.executions)) {
    for (const execution of snapshot.executions) {
      const id = execution && (execution.execution_id || execution.id);
      if (typeof id === "string") live.executions.set(id, { ...execution, execution_id: id });
    }
  }
  if (snapshot.metrics && typeof snapshot.metrics === "object") addTick(Date.now(), snapshot.metrics);
  if (typeof snapshot.last_event_id === "number") live.lastEventId = snapshot.last_event_id;
}

export function applyEvent(event) {
  if (!event || typeof event.id !== "number") return;
  if (live.lastEventId !== null && event.id <= live.lastEventId) return; // already applied
  live.lastEventId = event.id;
  record(event);
  const data = event.data && typeof event.data === "object" ? event.data : {};
  const name = typeof event.subject === "string" ? event.subject : "";
  const type = typeof event.type === "string" ? event.type : "";
  const before = type.startsWith("server.") ? live.servers.get(name) : undefined;
  if (type.startsWith("server.")) applyServerEvent(type, name, data, event);
  else if (type === "metrics.tick") addTick(timeOf(event), data);
  else if (type.startsWith("execution.") || type.startsWith("step.")) applyExecutionEvent(live, type, name, data, event);
  else if (type.startsWith("task.") || type.startsWith("node.")) {
    if (applyWorkEvent(live, type, name, data, event)) refreshTask(name);
  }
  else if (type === "audit.recorded") {
    live.audit.unshift({ ...data, _event: event.id });
    if (live.audit.length > AUDIT_KEPT) live.audit.length = AUDIT_KEPT;
  }
  for (const listener of eventListeners) {
    try {
      listener(event, before);
    } catch (error) {
      console.warn("event listener failed", error);
    }
  }
}

function timeOf(event) {
  const t = new Date(event.time).getTime();
  return Number.isFinite(t) ? t : Date.now();
}

const refreshing = new Set();

/** Read one thing again once (a burst of events naming it makes one request), then apply it. */
function refresh(path, apply) {
  if (refreshing.has(path)) return;
  refreshing.add(path);
  get(path)
    .then(apply)
    .catch(() => null)
    .finally(() => {
      refreshing.delete(path);
      changed();
    });
}

/** Events that only name a server (registered, updated, catalog changed): read its new state once. */
function refreshServer(name) {
  refresh(`/api/v1/servers/${encodeURIComponent(name)}`, (server) => {
    if (server && server.name === name) {
      live.servers.set(name, server);
      seedHealth(server);
    }
  });
}

/** A task first seen in an event: its request, who submitted it and when come from REST, once. An
 * event that came while the request was out is newer than its answer and keeps what it said. */
function refreshTask(id) {
  refresh(`/api/v1/tasks/${encodeURIComponent(id)}`, (task) => {
    if (!task || task.id !== id) return;
    const seen = live.tasks.get(id) || {};
    const newer = Date.parse(seen.updated_at) > Date.parse(task.updated_at || task.created_at);
    const kept = newer ? { state: seen.state, agent: seen.agent, attempt: seen.attempt, error: seen.error } : {};
    live.tasks.set(id, { ...task, ...kept });
  });
}

/** The health checks the hub kept for a server, as the points its sparkline and history show. */
function seedHealth(server) {
  if (!Array.isArray(server.recent_checks)) return;
  const points = server.recent_checks
    .filter((check) => check && typeof check === "object")
    .map((check) => ({ t: Date.parse(check.at), ms: check.latency_ms, ok: check.ok }))
    .filter((point) => Number.isFinite(point.t));
  live.health.set(server.name, points.slice(-HEALTH_POINTS));
}

function applyServerEvent(type, name, data, event) {
  const current = live.servers.get(name);
  switch (type) {
    case "server.status":
      live.servers.set(name, { ...(current || { name, tools: [] }), ...data, name });
      break;
    case "server.health": {
      const points = live.health.get(name) || [];
      points.push({ t: timeOf(event), ms: data.latency_ms, ok: data.ok });
      if (points.length > HEALTH_POINTS) points.shift();
      live.health.set(name, points);
      if (current) {
        const latency = typeof data.latency_ms === "number" ? { latency_ms: data.latency_ms } : {};
        live.servers.set(name, { ...current, last_check: data, ...latency });
      }
      break;
    }
    case "server.circuit":
      if (current) live.servers.set(name, { ...current, circuit_state: data.to ?? current.circuit_state });
      break;
    case "server.removed":
      live.servers.delete(name);
      live.health.delete(name);
      break;
    case "server.registered":
    case "server.updated":
    case "server.tools_changed":
      refreshServer(name);
      break;
    default:
      break;
  }
}

function addTick(t, data) {
  const point = {
    t,
    calls_per_s: num(data.calls_per_s),
    error_rate: num(data.error_rate),
    p95_ms: num(data.p95_ms),
    open_circuits: num(data.open_circuits),
    running_executions: num(data.running_executions),
    servers_down: num(data.servers_down),
  };
  const last = live.metrics[live.metrics.length - 1];
  if (last && last.t >= t) return;
  live.metrics.push(point);
  if (live.metrics.length > METRICS_POINTS) live.metrics.splice(0, live.metrics.length - METRICS_POINTS);
}

function num(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** The history the hub kept, for a chart that is full from the first paint. */
export function seedMetrics(points) {
  if (!Array.isArray(points)) return;
  const known = new Set(live.metrics.map((point) => point.t));
  for (const point of points) {
    const t = new Date(point.time).getTime();
    if (!Number.isFinite(t) || known.has(t)) continue;
    live.metrics.push({ t, ...Object.fromEntries(
      ["calls_per_s", "error_rate", "p95_ms", "open_circuits", "running_executions", "servers_down"].map((k) => [k, num(point[k])]),
    ) });
  }
  live.metrics.sort((a, b) => a.t - b.t);
  changed();
}

export function setPaused(paused) {
  live.paused = paused;
  changed();
}

export function touch() {
  changed();
}
