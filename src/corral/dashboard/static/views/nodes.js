// Nodes: the cluster's machines (this hub's own first), alive or lost, with their inventory. The list
// and each node's page come from the event stream's snapshot and node.* events, which carry the whole
// node; nothing is read over REST.

import { html } from "../lib.js";
import { useLive, Empty, Facts, Status } from "../ui.js";
import { ago, dateTime, list, number, text } from "../format.js";

function inventoryOf(node) {
  return node.inventory && typeof node.inventory === "object" ? node.inventory : {};
}

function gpusOf(inventory) {
  return inventory.gpus && Array.isArray(inventory.gpus.gpus) ? inventory.gpus.gpus : [];
}

function labelsOf(node) {
  return node.labels && typeof node.labels === "object" ? Object.entries(node.labels).map(([k, v]) => `${k}=${v}`) : [];
}

function mib(value) {
  return typeof value === "number" && Number.isFinite(value) ? `${number(value / 1024, 1)} GiB` : "—";
}

function Alive({ node }) {
  const word = node.alive === false ? "lost" : node.alive === true ? "alive" : "unknown";
  return html`<${Status} value=${node.alive === false ? "stopped" : node.alive === true ? "healthy" : "unknown"} label=${word} />`;
}

export function Nodes() {
  const state = useLive();
  const nodes = [...state.nodes.values()].sort((a, b) => (b.builtin === true) - (a.builtin === true) || (a.name < b.name ? -1 : 1));
  return html`<section aria-labelledby="nodes-title"><header class="view-head"><h1 id="nodes-title">Nodes</h1></header>
    ${nodes.length === 0 ? html`<${Empty} title=${state.lastEventId === null ? "Loading…" : "No nodes yet"}>
        This hub's own node is listed here with its inventory once it has taken it.<//>`
      : html`<div class="table-wrap"><table data-table="nodes"><thead><tr><th scope="col">Node</th><th scope="col">State</th>
          <th scope="col">Labels</th><th scope="col">CPUs</th><th scope="col">Load</th><th scope="col">Memory</th>
          <th scope="col">GPUs</th><th scope="col">Models</th><th scope="col">Servers</th></tr></thead>
        <tbody>${nodes.map((n) => {
          const inventory = inventoryOf(n);
          const gpus = gpusOf(inventory);
          return html`<tr key=${n.name} data-node=${n.name} data-alive=${String(n.alive)}>
            <th scope="row"><a href=${`#/nodes/${encodeURIComponent(n.name)}`}>${text(n.name)}</a>${n.builtin ? html` <small class="muted">(this hub)</small>` : null}</th>
            <td><${Alive} node=${n} /></td><td>${list(labelsOf(n))}</td><td class="num">${number(inventory.cpus)}</td>
            <td class="num">${number(inventory.load1, 2)}</td><td class="num">${mib(inventory.memory_total_mib)}</td>
            <td>${gpus.length ? number(gpus.length) : text(inventory.gpus && inventory.gpus.reason)}</td>
            <td class="num">${number(Array.isArray(inventory.models) ? inventory.models.length : null)}</td>
            <td>${list(n.servers)}</td></tr>`;
        })}</tbody></table></div>`}
  </section>`;
}

export function NodePage({ name }) {
  const state = useLive();
  const node = state.nodes.get(name);
  if (!node) {
    return html`<section><h1>Node ${name}</h1><${Empty} title="No such node">${state.lastEventId === null
      ? "Loading…" : `The hub knows no node named ${name}.`}<//></section>`;
  }
  const inventory = inventoryOf(node);
  const gpus = gpusOf(inventory);
  const models = Array.isArray(inventory.models) ? inventory.models : [];
  return html`<section aria-labelledby="node-title" data-node-page=${name} data-alive=${String(node.alive)}>
    <header class="view-head"><h1 id="node-title">Node ${name}</h1> <${Alive} node=${node} /></header>
    <${Facts} items=${[
      ["Joined", dateTime(node.joined_at)], ["Labels", list(labelsOf(node))], ["Lost because", text(node.lost_reason)],
      ["Inventory taken", ago(inventory.taken_at)], ["CPUs", number(inventory.cpus), "cpus"], ["Load (1 min)", number(inventory.load1, 2)],
      ["Memory", `${mib(inventory.memory_available_mib)} free of ${mib(inventory.memory_total_mib)}`, "memory"],
      ["GPU driver", text(inventory.gpus && inventory.gpus.driver)],
      ["Servers", html`${(Array.isArray(node.servers) ? node.servers : []).map((server, i) => html`${i ? ", " : ""}<a
        key=${server} href=${`#/servers/${encodeURIComponent(server)}`}>${server}</a>`)}`, "servers"],
    ]} />
    <h2>GPUs</h2>
    ${gpus.length === 0 ? html`<p class="muted" data-gpus="none">None seen${inventory.gpus && inventory.gpus.reason ? `: ${inventory.gpus.reason}` : ""}.</p>`
      : html`<div class="table-wrap"><table data-table="gpus"><thead><tr><th scope="col">#</th><th scope="col">Name</th>
          <th scope="col">Memory free</th><th scope="col">Utilisation</th></tr></thead>
        <tbody>${gpus.map((g) => html`<tr key=${g.index}><th scope="row">${number(g.index)}</th><td>${text(g.name)}</td>
          <td>${mib(g.memory_free_mib)} of ${mib(g.memory_total_mib)}</td>
          <td>${typeof g.utilisation_pct === "number" ? `${g.utilisation_pct} %` : "—"}</td></tr>`)}</tbody></table></div>`}
    <h2>Models</h2>
    ${models.length === 0 ? html`<p class="muted">No local model server answered.</p>`
      : html`<div class="table-wrap"><table data-table="models"><thead><tr><th scope="col">Model</th><th scope="col">Server</th>
          <th scope="col">Loaded</th><th scope="col">Size</th><th scope="col">Parameters</th><th scope="col">Quantization</th></tr></thead>
        <tbody>${models.map((m) => html`<tr key=${`${m.endpoint}|${m.name}`}><th scope="row">${text(m.name)}</th>
          <td>${text(m.kind)} · ${text(m.endpoint)}</td><td>${m.loaded ? "yes" : "no"}</td><td>${mib(m.size_mib)}</td>
          <td>${text(m.parameter_size)}</td><td>${text(m.quantization)}</td></tr>`)}</tbody></table></div>`}
    ${Array.isArray(inventory.model_errors) && inventory.model_errors.length
      ? html`<ul class="error-note">${inventory.model_errors.map((e, i) => html`<li key=${i}>${text(e)}</li>`)}</ul>` : null}
  </section>`;
}
