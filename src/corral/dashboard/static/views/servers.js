// The fleet: a live table of servers (one row per server, keyed by name) and each server's page.

import { html, Component, useEffect, useState } from "../lib.js";
import { post, get } from "../api.js";
import { live, onEvent } from "../live.js";
import { Action, Status, Empty, ErrorNote, hubBlocks, roleBlocks, useLive, useTick } from "../ui.js";
import { DASH, ago, duration, list, ms, number, text, clock, dateTime } from "../format.js";
import { toast } from "../alerts.js";

const ACTIONS = ["restart", "reload", "enable", "disable"];

/** Why `action` cannot be done to `server` now, or null. */
export function blocked(action, server) {
  const why = roleBlocks("operator") || hubBlocks();
  if (why) return why;
  const status = server.status;
  const enabled = server.enabled !== false && status !== "disabled";
  switch (action) {
    case "enable":
      return enabled ? "the server is already enabled" : null;
    case "disable":
      return enabled ? null : "the server is already disabled";
    case "restart":
      if (!enabled) return "the server is disabled: enable it first";
      if (status === "starting") return "the server is starting";
      return null;
    case "reload":
      if (!enabled) return "the server is disabled";
      if (status === "circuit_open") return "the circuit is open: restart the server instead";
      if (status !== "healthy" && status !== "degraded") return `the server is down (${text(status)})`;
      return null;
    default:
      return null;
  }
}

function ServerActions({ server }) {
  const [busy, setBusy] = useState(null);
  const act = async (action) => {
    setBusy(action);
    try {
      await post(`/api/v1/servers/${encodeURIComponent(server.name)}/${action}`);
      toast("info", `${action}: ${server.name}`, "asked; its status follows from the hub's events");
    } catch (error) {
      toast("bad", `${action} failed: ${server.name}`, error.message);
    } finally {
      setBusy(null);
    }
  };
  return html`<div class="actions">${ACTIONS.map((action) => html`<${Action} key=${action} name=${server.name}
    label=${action[0].toUpperCase() + action.slice(1)} reason=${blocked(action, server)}
    busy=${busy === action} onClick=${() => act(action)} />`)}</div>`;
}

export function Sparkline({ points, label }) {
  const values = (points || []).map((point) => point.ms).filter((v) => typeof v === "number" && Number.isFinite(v));
  if (values.length < 2) return html`<span class="spark-empty">${DASH}</span>`;
  const max = Math.max(...values, 1);
  const step = 60 / (values.length - 1);
  const path = values.map((v, i) => `${(i * step).toFixed(1)},${(18 - (v / max) * 16).toFixed(1)}`).join(" ");
  return html`<svg class="spark" viewBox="0 0 60 20" width="60" height="20" role="img" aria-label=${label}>
    <polyline points=${path} fill="none" stroke="currentColor" stroke-width="1.5" /></svg>`;
}

// A row re-renders only when its server (a new object on each change), its health or the time changes.
class ServerRow extends Component {
  shouldComponentUpdate(next) {
    const p = this.props;
    const changed = next.server !== p.server || next.health !== p.health || next.now !== p.now || next.gate !== p.gate;
    if (!changed && next.hidden !== p.hidden && this.base) {
      // A filter keystroke only shows or hides the row: one attribute, no render of its cells.
      this.base.hidden = next.hidden;
      return false;
    }
    return changed || next.hidden !== p.hidden;
  }

  render({ server, health, now, hidden }) {
    const check = server.last_check && typeof server.last_check === "object" ? server.last_check : null;
    const tools = Array.isArray(server.tools) ? server.tools.length : null;
    const href = `#/servers/${encodeURIComponent(server.name)}`;
    return html`<tr data-server=${server.name} data-status=${text(server.status)} hidden=${hidden}>
      <th scope="row"><a href=${href}>${server.name}</a></th>
      <td class="status-cell"><${Status} value=${server.status} />
        <div class="detail">${text(server.detail)}</div></td>
      <td>${check ? html`<span title=${dateTime(check.at)}>${ago(check.at, now)}</span>
        <div class="detail">${text(check.reason)}</div>` : DASH}</td>
      <td class="num"><span class="latency">${ms(server.latency_ms)}</span>
        <${Sparkline} points=${health} label=${`latency of ${server.name}`} /></td>
      <td><${Status} value=${server.circuit_state} /></td>
      <td class="num">${number(server.restarts)}</td>
      <td class="num">${duration(server.uptime_s)}</td>
      <td class="num">${tools === null ? DASH : number(tools)}</td>
      <td>${list(server.tags)}</td>
      <td><${ServerActions} server=${server} /></td>
    </tr>`;
  }
}

export function Servers({ query, setQuery }) {
  const state = useLive();
  const now = useTick(5000);
  const needle = (query || "").trim().toLowerCase();
  // Rows that do not match are hidden, not removed: a keystroke toggles attributes, and clearing the
  // filter does not build 200 rows again.
  const servers = [...state.servers.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const shown = new Set(servers.filter((server) => !needle || matches(server, needle)).map((server) => server.name));
  // The actions' reasons depend on the connection and the role, not on the row: part of the row's key.
  const gate = `${state.state}`;
  return html`<section aria-labelledby="servers-title">
    <header class="view-head">
      <h1 id="servers-title">Servers</h1>
      <label class="search">Filter <input type="search" value=${query || ""} data-filter="servers"
        placeholder="name, status, tag" onInput=${(e) => setQuery(e.target.value)} /></label>
      <span class="count" data-count>${shown.size} of ${state.servers.size}</span>
    </header>
    ${state.servers.size === 0 && state.lastEventId !== null
      ? html`<${Empty} title="No servers yet">Add one with <code>corral servers add</code> or the REST API.<//>`
      : html`<div class="table-wrap"><table class="servers" data-table="servers">
      <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Last check</th>
        <th scope="col">Latency</th><th scope="col">Circuit</th><th scope="col">Restarts</th>
        <th scope="col">Uptime</th><th scope="col">Tools</th><th scope="col">Tags</th>
        <th scope="col">Actions</th></tr></thead>
      <tbody>${servers.map((server) => html`<${ServerRow} key=${server.name} server=${server}
        health=${state.health.get(server.name)} now=${now} gate=${gate} hidden=${!shown.has(server.name)} />`)}</tbody>
    </table></div>`}
  </section>`;
}

function matches(server, needle) {
  if (server.name.toLowerCase().includes(needle)) return true;
  if (typeof server.status === "string" && server.status.includes(needle)) return true;
  return Array.isArray(server.tags) && server.tags.some((tag) => String(tag).toLowerCase().includes(needle));
}

export function ServerPage({ name }) {
  const state = useLive();
  const now = useTick(5000);
  const server = state.servers.get(name);
  if (!server) {
    return html`<section><h1>${name}</h1>
      <${Empty} title="No such server">${state.lastEventId === null ? "Loading…" : `The hub has no server named ${name}.`}<//>
    </section>`;
  }
  const check = server.last_check && typeof server.last_check === "object" ? server.last_check : {};
  const tools = Array.isArray(server.tools) ? server.tools : [];
  const seen = state.health.get(name) || [];
  // The hub's recent checks (from the snapshot), then each new one as it comes; else the last one.
  const health = seen.length || !check.at ? seen : [{ t: Date.parse(check.at), ms: check.latency_ms, ok: check.ok }];
  return html`<section aria-labelledby="server-title" data-server-page=${name}>
    <header class="view-head">
      <h1 id="server-title">${name}</h1>
      <${Status} value=${server.status} />
      <${ServerActions} server=${server} />
    </header>
    <dl class="facts">
      <div><dt>Detail</dt><dd>${text(server.detail)}</dd></div>
      <div><dt>Transport</dt><dd>${text(server.transport)}</dd></div>
      <div><dt>Last check</dt><dd>${ago(check.at, now)} · ${text(check.reason)} · ${text(check.message)}</dd></div>
      <div><dt>Latency</dt><dd>${ms(server.latency_ms)}</dd></div>
      <div><dt>Circuit</dt><dd><${Status} value=${server.circuit_state} />
        (${number(server.consecutive_failures)} failures in a row)</dd></div>
      <div><dt>Restarts</dt><dd>${number(server.restarts)}</dd></div>
      <div><dt>Uptime</dt><dd>${duration(server.uptime_s)}</dd></div>
      <div><dt>Downtime</dt><dd>${duration(server.total_downtime_s)}</dd></div>
      <div><dt>PID</dt><dd>${text(server.pid)}</dd></div>
      <div><dt>Calls in flight</dt><dd>${number(server.calls_in_flight)}</dd></div>
      <div><dt>Last error</dt><dd>${text(server.last_error)}</dd></div>
      <div><dt>Tags</dt><dd>${list(server.tags)}</dd></div>
    </dl>
    <div class="columns">
      <section aria-labelledby="health-title"><h2 id="health-title">Health checks</h2>
        ${health.length === 0 ? html`<p class="muted">No health check yet.</p>` : html`
        <table class="compact" data-table="health"><thead><tr><th scope="col">Time</th><th scope="col">Result</th>
          <th scope="col">Latency</th></tr></thead>
        <tbody>${health.slice().reverse().map((point) => html`<tr key=${point.t}>
          <td>${clock(point.t)}</td><td>${point.ok === false ? "failed" : point.ok === true ? "ok" : DASH}</td>
          <td class="num">${ms(point.ms)}</td></tr>`)}</tbody></table>`}
      </section>
      <section aria-labelledby="tools-title"><h2 id="tools-title">Tools (${tools.length})</h2>
        ${tools.length === 0 ? html`<p class="muted">No tools.</p>` : html`<ul class="tool-list">
          ${tools.map((tool) => html`<li key=${tool.name}><a href=${`#/tools/${encodeURIComponent(`${name}__${tool.name}`)}`}>
            ${text(tool.name)}</a> <span class="muted">${text(tool.description)}</span></li>`)}</ul>`}
      </section>
    </div>
    <${LogTail} name=${name} />
  </section>`;
}

/** The server's stderr: the tail from REST once, then each new line from `server.log` events. */
function LogTail({ name }) {
  const [lines, setLines] = useState([]);
  const [error, setError] = useState(null);
  const [follow, setFollow] = useState(true);
  useEffect(() => {
    let alive = true;
    setLines([]);
    get(`/api/v1/servers/${encodeURIComponent(name)}/logs?limit=200`)
      .then((body) => alive && setLines((seen) => [...(body && Array.isArray(body.lines) ? body.lines : []), ...seen]))
      .catch((e) => alive && setError(e));
    const off = onEvent((event) => {
      if (event.type !== "server.log" || event.subject !== name) return;
      const added = Array.isArray(event.data.lines) ? event.data.lines : [event.data];
      setLines((seen) => [...seen, ...added].slice(-1000));
    });
    return () => {
      alive = false;
      off();
    };
  }, [name]);
  useEffect(() => {
    if (!follow) return;
    const box = document.getElementById("log-lines");
    if (box) box.scrollTop = box.scrollHeight;
  }, [lines, follow]);
  return html`<section aria-labelledby="logs-title">
    <header class="view-head"><h2 id="logs-title">Log</h2>
      <label><input type="checkbox" checked=${follow} onChange=${(e) => setFollow(e.target.checked)} /> Follow</label>
    </header>
    <${ErrorNote} error=${error} />
    <pre id="log-lines" class="log" data-log=${name} tabindex="0" aria-label=${`log of ${name}`}>${lines.length === 0
      ? "No lines yet."
      : lines.map((line, i) => html`<span key=${i} class="log-line">${clock(line.time)} ${text(line.text)}\n</span>`)}</pre>
  </section>`;
}
