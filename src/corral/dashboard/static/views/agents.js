// Agents: servers with an agent section, with their capabilities and load. The load is an aggregate the
// hub keeps (in flight, queued, completed, failed, mean latency), so it is read from REST when the view
// opens and again, once per burst, when task events say it moved — never on a timer.

import { html } from "../lib.js";
import { useLive, useReadOnEvents, Empty, ErrorNote, Status } from "../ui.js";
import { list, ms, number, text } from "../format.js";

export function Agents() {
  const state = useLive();
  const { body, error } = useReadOnEvents("/api/v1/agents?limit=200", "task.", state.resets);
  const items = body && Array.isArray(body.items) ? body.items : [...state.agents.values()];
  return html`<section aria-labelledby="agents-title"><header class="view-head"><h1 id="agents-title">Agents</h1></header>
    ${error && error.status !== 404 ? html`<${ErrorNote} error=${error} />` : null}
    ${body === null && !error && items.length === 0 ? html`<p class="muted">Loading…</p>` : items.length === 0
      ? html`<${Empty} title="No agents yet">A server with an <code>agent</code> section in its config takes tasks; it will be listed here with its load.<//>`
      : html`<div class="table-wrap"><table data-table="agents"><thead><tr><th scope="col">Agent</th><th scope="col">Status</th>
          <th scope="col">Capabilities</th><th scope="col">In flight</th><th scope="col">Limit</th><th scope="col">Queued</th>
          <th scope="col">Completed</th><th scope="col">Failed</th><th scope="col">Mean latency</th></tr></thead>
        <tbody>${items.map((a) => html`<tr key=${a.id} data-agent=${a.id} data-status=${text(a.status)}>
          <th scope="row"><a href=${`#/servers/${encodeURIComponent(a.server || "")}`}>${text(a.id)}</a></th>
          <td><${Status} value=${a.status} /></td>
          <td>${list(a.agent && a.agent.capabilities)}</td><td class="num" data-in-flight>${number(a.in_flight)}</td>
          <td class="num">${number(a.agent && a.agent.max_concurrent)}</td>
          <td class="num">${number(a.queued)}</td><td class="num">${number(a.completed)}</td>
          <td class="num">${number(a.failed)}</td><td class="num">${ms(a.mean_latency_ms)}</td></tr>`)}</tbody></table></div>`}
  </section>`;
}
