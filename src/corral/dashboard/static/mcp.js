// Calling a tool the way any MCP client does: Streamable HTTP to the hub's /mcp, so the call takes the
// hub's one call path (authorization, argument check, metrics, audit) and its progress and log
// notifications arrive as they happen. Cancelling sends notifications/cancelled, which the hub relays
// to the server. One MCP session per call: opened, used, ended.

import { session } from "./api.js";

const PROTOCOL = "2025-06-18";
let nextId = 1;

export class McpError extends Error {
  constructor(message, data) {
    super(message);
    this.data = data;
  }
}

async function send(state, message, signal) {
  const headers = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };
  const token = session.current && session.current.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (state.sessionId) headers["Mcp-Session-Id"] = state.sessionId;
  if (state.protocol) headers["Mcp-Protocol-Version"] = state.protocol;
  const response = await fetch("/mcp", { method: "POST", headers, body: JSON.stringify(message), signal, credentials: "omit" });
  if (!response.ok && response.status !== 202) {
    const text = await response.text().catch(() => "");
    let detail = text;
    try { detail = JSON.parse(text).detail || JSON.parse(text).error?.message || text; } catch { /* plain text */ }
    throw new McpError(`HTTP ${response.status}: ${detail}`.slice(0, 500));
  }
  const id = response.headers.get("mcp-session-id");
  if (id) state.sessionId = id;
  return response;
}

/** Read a response (JSON or an event stream) until the answer to `id`; notifications go to `onNote`. */
async function answer(response, id, onNote) {
  const type = response.headers.get("content-type") || "";
  if (type.includes("application/json")) return pick(await response.json(), id, onNote);
  if (!type.includes("text/event-stream")) return null;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) !== -1) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
      const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (!data) continue;
      let message;
      try { message = JSON.parse(data); } catch { continue; }
      const found = pick(message, id, onNote);
      if (found) {
        reader.cancel().catch(() => null);
        return found;
      }
    }
  }
  return null;
}

function pick(message, id, onNote) {
  for (const item of Array.isArray(message) ? message : [message]) {
    if (item && item.id === id && ("result" in item || "error" in item)) return item;
    if (item && typeof item.method === "string") onNote(item);
  }
  return null;
}

/** Call `tool` with `args`; `onNote(notification)` hears progress and log messages. Returns
 * `{ result, cancel }` where result is a promise of the tool's result, and cancel() asks the hub to stop. */
export function callTool(tool, args, onNote) {
  const state = { sessionId: null, protocol: null };
  const controller = new AbortController();
  const callId = nextId++;
  let started = false;
  const result = (async () => {
    const init = nextId++;
    const opened = await send(state, { jsonrpc: "2.0", id: init, method: "initialize", params: {
      protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: "corral-dashboard", version: "1" } } }, controller.signal);
    const hello = await answer(opened, init, () => null);
    if (!hello || hello.error) throw new McpError(hello ? hello.error.message : "no answer to initialize");
    state.protocol = hello.result.protocolVersion || PROTOCOL;
    await send(state, { jsonrpc: "2.0", method: "notifications/initialized" }, controller.signal);
    started = true;
    try {
      const response = await send(state, { jsonrpc: "2.0", id: callId, method: "tools/call", params: {
        name: tool, arguments: args, _meta: { progressToken: `p${callId}` } } }, controller.signal);
      const reply = await answer(response, callId, onNote);
      if (!reply) throw new McpError("the call ended without an answer");
      if (reply.error) throw new McpError(reply.error.message, reply.error.data);
      return reply.result;
    } finally {
      end(state);
    }
  })();
  const cancel = async (reason = "cancelled from the dashboard") => {
    if (started) {
      await send(state, { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: callId, reason } })
        .catch(() => null);
    }
    controller.abort();
  };
  return { result, cancel };
}

function end(state) {
  if (!state.sessionId) return;
  const headers = { "Mcp-Session-Id": state.sessionId };
  const token = session.current && session.current.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  fetch("/mcp", { method: "DELETE", headers, credentials: "omit" }).catch(() => null);
}
