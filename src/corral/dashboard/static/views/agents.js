// Agents, tasks and nodes: servers with an agent section and their load; tasks routed to them, newest
// first; the nodes of the cluster with their inventory. Each is read from REST when the view opens and
// again (once per burst) when an event of its kind says something changed, never on a timer.

import { html, useEffect, useRef, useState } from "../lib.js";
import { get } from "../api.js";
import { onEvent } from "../live.js";
import { useLive, Empty, ErrorNote, Status } from "../ui.js";
import { ago, list, ms, number, text, dateTime } from "../format.js";

const STATES = ["queued", "assigned", "running", "held", "completed", "failed", "cancelled"];

/** `load()` now, and again after a burst of task events; `error` when the hub has no such route. */
function useTaskBacked(path, prefix = "task.") {
  const [body, setBody] = useState(null);
  const [error, setError] = useState(null);
  const timer = useRef(null);
  useEffect(() => {
    let alive = true;
    const load = () => get(path).then((b) => alive && (setBody(b), setError(null))).catch((e) => alive && setError(e));
    load();
    const off = onEvent((event) => {
      if (typeof event.type !== "string" || !event.type.startsWith(prefix)) return;
      clearTimeout(timer.current);
      timer.current = setTimeout(load, 300);
    });
    return () => { alive = false; off(); clearTimeout(timer.current); };
  }, [path, prefix]);
  return { body, error };
}

export function Agents() {
  useLive();
  const { body, error } = useTaskBacked("/api/v1/agents?limit=200");
  const items = body && Array.isArray(body.items) ? body.items : [];
  return html`<section aria-labelledby="agents-title"><header class="view-head"><h1 id="agents-title">Agents</h1></header>
    ${error && error.status !== 404 ? html`<${ErrorNote} error=${error} />` : null}
    ${body === null && !error ? html`<p class="muted">Loading…</p>` : items.length === 0
      ? html`<${Empty} title="No agents yet">A server with an <code>agent</code> section in its config takes tasks; it will be listed here with its load.<//>`
      : html`<div class="table-wrap"><table data-table="agents"><thead><tr><th scope="col">Agent</th><th scope="col">Status</th>
          <th scope="col">Capabilities</th><th scope="col">In flight</th><th scope="col">Queued</th><th scope="col">Completed</th>
          <th scope="col">Failed</th><th scope="col">Mean latency</th></tr></thead>
        <tbody>${items.map((a) => html`<tr key=${a.id} data-agent=${a.id}>
          <th scope="row">${text(a.id)}</th><td><${Status} value=${a.status} /></td>
          <td>${list(a.agent && a.agent.capabilities)}</td><td class="num">${number(a.in_flight)}</td>
          <td class="num">${number(a.queued)}</td><td class="num">${number(a.completed)}</td>
          <td class="num">${number(a.failed)}</td><td class="num">${ms(a.mean_latency_ms)}</td></tr>`)}</tbody></table></div>`}
  </section>`;
}

export function Tasks() {
  useLive();
  const [state, setState] = useState("");
  const { body, error } = useTaskBacked(`/api/v1/tasks?limit=50${state ? `&state=${state}` : ""}`);
  const items = body && Array.isArray(body.items) ? body.items : [];
  return html`<section aria-labelledby="tasks-title"><header class="view-head"><h1 id="tasks-title">Tasks</h1>
      <label>State <select value=${state} data-filter="state" onChange=${(e) => setState(e.target.value)}>
        <option value="">any</option>${STATES.map((s) => html`<option key=${s} value=${s}>${s}</option>`)}</select></label></header>
    ${error && error.status !== 404 ? html`<${ErrorNote} error=${error} />` : null}
    ${body === null && !error ? html`<p class="muted">Loading…</p>` : items.length === 0
      ? html`<${Empty} title="No tasks yet">Tasks given to agents (<code>corral tasks submit</code>) will be listed here as they run.<//>`
      : html`<div class="table-wrap"><table data-table="tasks"><thead><tr><th scope="col">Task</th><th scope="col">State</th>
          <th scope="col">Agent</th><th scope="col">Attempt</th><th scope="col">Submitted</th><th scope="col">By</th>
          <th scope="col">Error</th></tr></thead>
        <tbody>${items.map((t) => html`<tr key=${t.id} data-task=${t.id} data-state=${text(t.state)}>
          <th scope="row">${text(t.id)}</th><td><${Status} value=${t.state} /></td><td>${text(t.agent)}</td>
          <td class="num">${number(t.attempt)}</td><td title=${dateTime(t.created_at)}>${ago(t.created_at)}</td>
          <td>${text(t.actor)}</td><td class="detail">${text(t.error)}</td></tr>`)}</tbody></table></div>`}
  </section>`;
}

export function Nodes() {
  useLive();
  const { body, error } = useTaskBacked("/api/v1/nodes?limit=200", "node.");
  const items = body && Array.isArray(body.items) ? body.items : [];
  return html`<section aria-labelledby="nodes-title"><header class="view-head"><h1 id="nodes-title">Nodes</h1></header>
    ${error && error.status !== 404 ? html`<${ErrorNote} error=${error} />` : null}
    ${body === null && !error ? html`<p class="muted">Loading…</p>` : items.length === 0
      ? html`<${Empty} title="No nodes yet">This hub's own node will be listed here with its inventory once it has taken it.<//>`
      : html`<div class="table-wrap"><table data-table="nodes"><thead><tr><th scope="col">Node</th><th scope="col">State</th>
          <th scope="col">Labels</th><th scope="col">CPUs</th><th scope="col">Memory</th><th scope="col">GPUs</th>
          <th scope="col">Models</th><th scope="col">Servers</th></tr></thead>
        <tbody>${items.map((n) => {
          const inventory = n.inventory && typeof n.inventory === "object" ? n.inventory : {};
          const gpus = inventory.gpus && Array.isArray(inventory.gpus.gpus) ? inventory.gpus.gpus : [];
          const labels = n.labels && typeof n.labels === "object" ? Object.entries(n.labels).map(([k, v]) => `${k}=${v}`) : [];
          return html`<tr key=${n.name} data-node=${n.name}>
            <th scope="row">${text(n.name)}${n.builtin ? html` <small class="muted">(this hub)</small>` : null}</th>
            <td><${Status} value=${n.alive === false ? "stopped" : n.alive === true ? "healthy" : "unknown"}
              label=${n.alive === false ? "lost" : n.alive === true ? "alive" : "unknown"} /></td>
            <td>${list(labels)}</td><td class="num">${number(inventory.cpus)}</td>
            <td class="num">${inventory.memory_total_mib ? `${number(inventory.memory_total_mib / 1024, 1)} GiB` : "—"}</td>
            <td>${gpus.length ? number(gpus.length) : text(inventory.gpus && inventory.gpus.reason)}</td>
            <td class="num">${number(Array.isArray(inventory.models) ? inventory.models.length : null)}</td>
            <td>${list(n.servers)}</td></tr>`;
        })}</tbody></table></div>`}
  </section>`;
}
