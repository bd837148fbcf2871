// Tools: every tool of the fleet (from the live server list), searchable; a call form generated from the
// tool's inputSchema; the call's progress, log messages and elapsed time as they arrive; cancel;
// results as text, JSON or images; the person's recent calls (from the audit trail), with replay.

import { html, useEffect, useRef, useState } from "../lib.js";
import { callTool } from "../mcp.js";
import { SchemaForm, initial } from "../schemaform.js";
import { useLive, Action, Empty, ErrorNote, Status, roleBlocks, hubBlocks } from "../ui.js";
import { text, number } from "../format.js";
import { CallHistory, called } from "./callhistory.js";

function fleetTools(servers) {
  const tools = [];
  for (const server of servers.values()) {
    for (const tool of Array.isArray(server.tools) ? server.tools : []) {
      if (!tool || typeof tool.name !== "string") continue;
      tools.push({ id: `${server.name}__${tool.name}`, server, tool });
    }
  }
  return tools.sort((a, b) => (a.id < b.id ? -1 : 1));
}

export function callBlocked(server) {
  const why = roleBlocks("operator") || hubBlocks();
  if (why) return why;
  if (server.status === "circuit_open") return "the server's circuit is open";
  if (server.status !== "healthy" && server.status !== "degraded") return `the server is down (${text(server.status)})`;
  return null;
}

export function Tools({ selected }) {
  const state = useLive();
  const [needle, setNeedle] = useState("");
  const tools = fleetTools(state.servers);
  const shown = tools.filter(({ id, tool }) => !needle
    || id.toLowerCase().includes(needle.toLowerCase())
    || String(tool.description || "").toLowerCase().includes(needle.toLowerCase()));
  const current = tools.find((entry) => entry.id === selected);
  return html`<section aria-labelledby="tools-title">
    <header class="view-head"><h1 id="tools-title">Tools</h1>
      <label class="search">Search <input type="search" value=${needle} data-filter="tools"
        onInput=${(e) => setNeedle(e.target.value)} placeholder="name or description" /></label>
      <span class="count">${shown.length} of ${tools.length}</span></header>
    <div class="split">
      <ul class="pick-list" data-list="tools" aria-label="Tools">${shown.map(({ id, tool }) => html`<li key=${id}>
        <a href=${`#/tools/${encodeURIComponent(id)}`} aria-current=${id === selected ? "true" : undefined} data-tool=${id}>
          ${id}<br /><small class="muted">${text(tool.description)}</small></a></li>`)}</ul>
      <div>${current ? html`<${ToolCall} key=${current.id + ((history.state && history.state.replay && history.state.replay.at) || "")} entry=${current} />`
        : html`<${Empty} title=${tools.length ? "Pick a tool" : "No tools"}>${tools.length
          ? "Choose a tool on the left to see its schema and call it." : "No healthy server offers a tool yet."}<//>`}
        <${CallHistory} known=${new Set(tools.map((entry) => entry.id))} />
      </div>
    </div>
  </section>`;
}

function ToolCall({ entry }) {
  const { id, server, tool } = entry;
  const schema = tool.inputSchema && typeof tool.inputSchema === "object" ? tool.inputSchema : { type: "object" };
  const replay = history.state && history.state.replay && history.state.replay.tool === id ? history.state.replay.args : null;
  const [args, setArgs] = useState(() => replay || initial(schema, schema) || {});
  const [raw, setRaw] = useState(false);
  const [rawText, setRawText] = useState("");
  const [call, setCall] = useState(null); // {started, progress, logs, result, error, done, cancel}
  const [now, setNow] = useState(Date.now());
  const timer = useRef(null);
  useEffect(() => () => clearInterval(timer.current), []);
  const blocked = callBlocked(server);

  const start = (event) => {
    event.preventDefault();
    let payload = args;
    if (raw) {
      try {
        payload = JSON.parse(rawText || "{}");
      } catch (e) {
        setCall({ error: `arguments: ${e.message}`, done: true, logs: [] });
        return;
      }
    }
    const started = Date.now();
    const notes = { progress: null, logs: [] };
    const handle = callTool(id, payload || {}, (note) => {
      if (note.method === "notifications/progress") notes.progress = note.params || {};
      else if (note.method === "notifications/message") notes.logs = [...notes.logs, note.params || {}];
      setCall((c) => c && { ...c, progress: notes.progress, logs: notes.logs });
    });
    setCall({ started, progress: null, logs: [], cancel: handle.cancel, done: false });
    clearInterval(timer.current);
    timer.current = setInterval(() => setNow(Date.now()), 250);
    const finish = (patch) => {
      clearInterval(timer.current);
      setNow(Date.now());
      setCall((c) => ({ ...c, ...patch, done: true, ended: Date.now() }));
      called();
    };
    handle.result
      .then((result) => finish({ result }))
      .catch((e) => finish(e.name === "AbortError" ? { cancelled: true } : { error: e.message }));
  };

  const elapsed = call && call.started ? ((call.ended || now) - call.started) / 1000 : null;
  const progress = call && call.progress;
  return html`<section class="tool-call" aria-labelledby="call-title" data-tool-page=${id}>
    <header class="view-head"><h2 id="call-title">${id}</h2> <${Status} value=${server.status} /></header>
    <p>${text(tool.description)}</p>
    <form onSubmit=${start} data-form="call">
      <label class="check"><input type="checkbox" checked=${raw} data-toggle="raw" onChange=${(e) => {
        setRaw(e.target.checked);
        if (e.target.checked) setRawText(JSON.stringify(args ?? {}, null, 2));
      }} /> Edit as raw JSON</label>
      ${raw ? html`<label>Arguments (JSON)<textarea rows="8" data-raw value=${rawText} onInput=${(e) => setRawText(e.target.value)} /></label>`
        : html`<${SchemaForm} schema=${schema} value=${args} onChange=${setArgs} />`}
      <div class="actions">
        <${Action} name=${id} label="Call" kind="primary" reason=${blocked || (call && !call.done ? "a call is running" : null)}
          onClick=${start} />
        ${call && !call.done ? html`<button type="button" data-action="cancel" onClick=${() => call.cancel()}>Cancel</button>` : null}
      </div>
    </form>
    ${call ? html`<div class="call-state" data-call=${call.done ? (call.error ? "error" : call.cancelled ? "cancelled" : "done") : "running"}>
      <p><span data-elapsed>${elapsed === null ? "—" : `${number(elapsed, 1)} s`}</span>
        ${call.done ? (call.error ? " · failed" : call.cancelled ? " · cancelled" : " · done") : " · running…"}</p>
      ${progress ? html`<p data-progress=${String(progress.progress ?? "")}>
        <progress max=${progress.total || undefined} value=${progress.progress ?? undefined}
          aria-label="progress"></progress> ${number(progress.progress)}${progress.total ? ` / ${number(progress.total)}` : ""}
        ${progress.message ? ` · ${progress.message}` : ""}</p>` : null}
      ${call.logs.length ? html`<ol class="messages">${call.logs.map((log, i) => html`<li key=${i}>
        <strong>${text(log.level)}</strong> ${typeof log.data === "string" ? log.data : JSON.stringify(log.data)}</li>`)}</ol>` : null}
      <${ErrorNote} error=${call.error} />
      ${call.result ? html`<${Result} result=${call.result} />` : null}
    </div>` : null}
  </section>`;
}

function Result({ result }) {
  const content = Array.isArray(result.content) ? result.content : [];
  return html`<div data-result=${result.isError ? "error" : "ok"}>
    ${result.isError ? html`<p class="error-note" role="alert">The tool reported an error.</p>` : null}
    ${content.map((item, i) => {
      if (item.type === "text") return html`<pre key=${i} class="result">${item.text}</pre>`;
      if (item.type === "image" && typeof item.data === "string") {
        return html`<img key=${i} alt="image result" src=${`data:${item.mimeType || "image/png"};base64,${item.data}`} />`;
      }
      return html`<pre key=${i} class="result">${JSON.stringify(item, null, 2)}</pre>`;
    })}
    ${result.structuredContent ? html`<details><summary>Structured result</summary>
      <pre class="result">${JSON.stringify(result.structuredContent, null, 2)}</pre></details>` : null}
  </div>`;
}
