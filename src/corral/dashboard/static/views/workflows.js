// Workflows and executions: lists with filters and paging (REST pages, live status from events), a start
// form built from a workflow's params, and an execution page whose DAG is coloured live by step events.

import { html, useEffect, useRef, useState } from "../lib.js";
import { get, post } from "../api.js";
import { live, onEvent } from "../live.js";
import { SchemaForm, initial } from "../schemaform.js";
import { useLive, useTick, Action, Empty, ErrorNote, Status, roleBlocks, hubBlocks } from "../ui.js";
import { toast } from "../alerts.js";
import { ago, dateTime, duration, number, parseTime, text } from "../format.js";

const PAGE = 50;
const STATUSES = ["pending", "running", "paused", "completed", "failed", "cancelled"];

// -- workflows -----------------------------------------------------------------------------------

export function Workflows({ selected }) {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    get("/api/v1/workflows?limit=200").then((body) => setItems(body.items || [])).catch(setError);
  }, []);
  return html`<section aria-labelledby="workflows-title">
    <header class="view-head"><h1 id="workflows-title">Workflows</h1></header>
    <${ErrorNote} error=${error} />
    ${items === null ? html`<p class="muted">Loading…</p>` : items.length === 0
      ? html`<${Empty} title="No workflows yet">Create one with <code>corral workflows create</code> or POST /api/v1/workflows.<//>`
      : html`<div class="split"><ul class="pick-list" aria-label="Workflows">${items.map((w) => html`<li key=${w.workflow_id}>
          <a href=${`#/workflows/${encodeURIComponent(w.workflow_id)}`} data-workflow=${w.workflow_id}
            aria-current=${w.workflow_id === selected ? "true" : undefined}>${text(w.name || w.workflow_id)}
            <br /><small class="muted">v${number(w.version)} · ${number(w.steps)} steps · last ${text(w.last_status)}</small></a></li>`)}</ul>
        <div>${selected ? html`<${StartForm} key=${selected} id=${selected} />` : html`<${Empty} title="Pick a workflow">Choose one to see it and start it.<//>`}</div></div>`}
  </section>`;
}

function paramsSchema(params) {
  const properties = {};
  const required = [];
  for (const [name, spec] of Object.entries(params || {})) {
    properties[name] = { ...(spec.type ? { type: spec.type } : {}), description: spec.description || undefined,
      ...(spec.default !== null && spec.default !== undefined ? { default: spec.default } : {}) };
    if (spec.required) required.push(name);
  }
  return { type: "object", properties, required };
}

function StartForm({ id }) {
  const [workflow, setWorkflow] = useState(null);
  const [params, setParams] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    get(`/api/v1/workflows/${encodeURIComponent(id)}`).then((w) => {
      setWorkflow(w);
      const schema = paramsSchema(w.definition && w.definition.params);
      setParams(initial(schema, schema) || {});
    }).catch(setError);
  }, [id]);
  if (error && !workflow) return html`<${ErrorNote} error=${error} />`;
  if (!workflow) return html`<p class="muted">Loading…</p>`;
  const definition = workflow.definition || {};
  const schema = paramsSchema(definition.params);
  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      const started = await post(`/api/v1/workflows/${encodeURIComponent(id)}/execute`, { parameters: params });
      location.hash = `#/executions/${encodeURIComponent(started.execution_id)}`;
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<section aria-labelledby="wf-title" data-workflow-page=${id}>
    <h2 id="wf-title">${text(definition.name || id)} <small class="muted">v${number(workflow.version)}</small></h2>
    <p>${text(definition.description)}</p>
    <${Dag} steps=${definition.steps || []} states=${{}} />
    <h3>Start</h3>
    <form onSubmit=${(e) => { e.preventDefault(); start(); }} data-form="start">
      ${Object.keys(schema.properties).length ? html`<${SchemaForm} schema=${schema} value=${params} onChange=${setParams} idPrefix="param" />`
        : html`<p class="muted">This workflow takes no parameters.</p>`}
      <${ErrorNote} error=${error} />
      <${Action} name=${id} label="Start" kind="primary" busy=${busy} reason=${roleBlocks("operator") || hubBlocks()} onClick=${start} />
    </form>
    <p><a href=${`#/executions?workflow_id=${encodeURIComponent(id)}`}>Its executions</a></p>
  </section>`;
}

// -- executions ----------------------------------------------------------------------------------

function listQuery() {
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  return { workflow_id: query.get("workflow_id") || "", status: query.get("status") || "" };
}

export function Executions() {
  const state = useLive();
  const now = useTick(5000);
  const [filters, setFilters] = useState(listQuery);
  const [pages, setPages] = useState({ cursors: [null], index: 0 });
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const cursor = pages.cursors[pages.index];
  useEffect(() => {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (filters.workflow_id) params.set("workflow_id", filters.workflow_id);
    if (filters.status) params.set("status", filters.status);
    if (cursor) params.set("cursor", cursor);
    let alive = true;
    get(`/api/v1/executions?${params}`).then((body) => alive && setPage(body)).catch((e) => alive && setError(e));
    return () => { alive = false; };
  }, [filters.workflow_id, filters.status, cursor, state.resets]);
  const setFilter = (field, value) => {
    const next = { ...filters, [field]: value };
    setFilters(next);
    setPages({ cursors: [null], index: 0 });
    const q = new URLSearchParams(Object.entries(next).filter(([, v]) => v)).toString();
    history.replaceState(null, "", `#/executions${q ? `?${q}` : ""}`);
  };
  // Live: the page's rows take their status from events; on the first page, new executions appear on top.
  const rows = page ? page.items.map((e) => ({ ...e, ...pickLive(state.executions.get(e.execution_id)) })) : [];
  if (page && pages.index === 0) {
    const shown = new Set(rows.map((e) => e.execution_id));
    const newer = [...state.executions.values()].filter((e) => !shown.has(e.execution_id)
      && (!filters.workflow_id || e.workflow_id === filters.workflow_id)
      && (!filters.status || e.status === filters.status)
      && (parseTime(e.created_at || e.updated_at) || 0) > (parseTime(rows[0] && rows[0].created_at) || 0));
    rows.unshift(...newer.reverse());
  }
  return html`<section aria-labelledby="executions-title">
    <header class="view-head"><h1 id="executions-title">Executions</h1>
      <label>Workflow <input type="search" value=${filters.workflow_id} data-filter="workflow_id" size="16"
        onChange=${(e) => setFilter("workflow_id", e.target.value.trim())} /></label>
      <label>Status <select value=${filters.status} data-filter="status" onChange=${(e) => setFilter("status", e.target.value)}>
        <option value="">any</option>${STATUSES.map((s) => html`<option key=${s} value=${s}>${s}</option>`)}</select></label>
    </header>
    <${ErrorNote} error=${error} />
    ${page === null ? html`<p class="muted">Loading…</p>` : rows.length === 0
      ? html`<${Empty} title="No executions">None match these filters.<//>`
      : html`<div class="table-wrap"><table data-table="executions"><thead><tr><th scope="col">Execution</th>
        <th scope="col">Workflow</th><th scope="col">Status</th><th scope="col">Created</th><th scope="col">Duration</th>
        <th scope="col">Error</th></tr></thead>
        <tbody>${rows.map((e) => html`<tr key=${e.execution_id} data-execution=${e.execution_id} data-status=${text(e.status)}>
          <th scope="row"><a href=${`#/executions/${encodeURIComponent(e.execution_id)}`}>${e.execution_id}</a></th>
          <td>${text(e.workflow_id)}</td><td><${Status} value=${e.status} /></td>
          <td title=${dateTime(e.created_at)}>${ago(e.created_at, now)}</td>
          <td class="num">${duration(span(e, now))}</td><td class="detail">${text(e.error)}</td></tr>`)}</tbody></table></div>`}
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled=${pages.index === 0} onClick=${() => setPages({ ...pages, index: pages.index - 1 })}>Newer</button>
      <span>page ${pages.index + 1}</span>
      <button type="button" disabled=${!page || !page.next_cursor} data-page="older"
        onClick=${() => setPages({ cursors: [...pages.cursors.slice(0, pages.index + 1), page.next_cursor], index: pages.index + 1 })}>Older</button>
    </nav>
  </section>`;
}

function pickLive(execution) {
  if (!execution) return {};
  const picked = {};
  for (const key of ["status", "error", "finished_at", "started_at"]) if (execution[key] !== undefined) picked[key] = execution[key];
  return picked;
}

function span(execution, now) {
  const start = parseTime(execution.started_at || execution.created_at);
  if (start === null) return null;
  const end = parseTime(execution.finished_at) ?? (["completed", "failed", "cancelled"].includes(execution.status) ? null : now);
  return end === null ? null : (end - start) / 1000;
}

// -- one execution -------------------------------------------------------------------------------

const STEP_EVENTS = {
  "step.started": "running", "step.task_started": "running", "step.child_started": "running", "step.resumed": "pending",
  "step.progress": "running", "step.retrying": "retrying", "step.held": "held", "step.decided": "pending",
  "step.completed": "completed", "step.failed": "failed", "step.skipped": "skipped", "step.cancelled": "cancelled",
};
const EXECUTION_EVENTS = { "execution.started": "running", "execution.resumed": "running", "execution.paused": "paused",
  "execution.completed": "completed", "execution.failed": "failed", "execution.cancelled": "cancelled" };

function stepOf(run) {
  const key = typeof run.key === "string" ? run.key : run.step_id;
  return key;
}

export function ExecutionPage({ id }) {
  const { resets } = useLive();
  const [execution, setExecution] = useState(null);
  const [definition, setDefinition] = useState(null);
  const [runs, setRuns] = useState({}); // step key → {status, attempt, error, result, progress}
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(null);
  const buffered = useRef([]);
  const loaded = useRef(false);

  const apply = (event) => {
    const data = event.data || {};
    if (EXECUTION_EVENTS[event.type]) {
      setExecution((e) => e && { ...e, status: EXECUTION_EVENTS[event.type], error: data.error ?? e.error });
      return;
    }
    const step = typeof data.step === "string" ? data.step : null;
    if (!step || !STEP_EVENTS[event.type]) return;
    setRuns((current) => {
      const previous = current[step] || {};
      const next = { ...previous, status: STEP_EVENTS[event.type] };
      if (event.type === "step.started") next.attempt = typeof data.attempt === "number" ? data.attempt : (previous.attempt || 0) + 1;
      if (event.type === "step.progress") next.progress = data;
      if (data.error) next.error = data.error;
      if (event.type === "step.completed" && "result" in data) next.result = data.result;
      return { ...current, [step]: next };
    });
  };

  // A step's result is not in its event: read the execution again (once per burst) when steps finish,
  // and take results and errors from it; statuses stay the events' business.
  const results = useRef(null);
  const readResults = () => {
    clearTimeout(results.current);
    results.current = setTimeout(async () => {
      try {
        const status = await get(`/api/v1/executions/${encodeURIComponent(id)}`);
        setRuns((current) => {
          const next = { ...current };
          for (const run of Array.isArray(status.steps) ? status.steps : []) {
            const key = stepOf(run);
            if (key) next[key] = { ...(next[key] || {}), result: run.result, error: run.error ?? (next[key] || {}).error };
          }
          return next;
        });
      } catch {
        // the results stay as they were; the statuses are already right
      }
    }, 150);
  };
  useEffect(() => () => clearTimeout(results.current), []);

  useEffect(() => {
    loaded.current = false;
    buffered.current = [];
    const off = onEvent((event) => {
      if (event.subject !== id || !(event.type.startsWith("step.") || event.type.startsWith("execution."))) return;
      if (loaded.current) {
        apply(event);
        if (event.type === "step.completed" || event.type === "step.failed") readResults();
      } else buffered.current.push(event);
    });
    (async () => {
      try {
        const status = await get(`/api/v1/executions/${encodeURIComponent(id)}`);
        const workflow = await get(`/api/v1/workflows/${encodeURIComponent(status.workflow_id)}?version=${status.version}`);
        const fromRest = {};
        for (const [step, value] of Object.entries(status.step_states || {})) fromRest[step] = { status: value };
        for (const run of Array.isArray(status.steps) ? status.steps : []) {
          const key = stepOf(run);
          if (!key) continue;
          fromRest[key] = { ...(fromRest[key] || {}), status: run.uncertain && run.status === "pending" ? "held" : run.status,
            attempt: run.attempt, error: run.error, result: run.result, duration_s: run.duration_s };
        }
        setExecution(status);
        setDefinition(workflow.definition || { steps: [] });
        setRuns(fromRest);
        loaded.current = true;
        for (const event of buffered.current) apply(event);
        buffered.current = [];
      } catch (e) {
        setError(e);
      }
    })();
    return off;
  }, [id, resets]);

  if (error && !execution) return html`<section><h1>${id}</h1><${ErrorNote} error=${error} /></section>`;
  if (!execution || !definition) return html`<section><h1>${id}</h1><p class="muted">Loading…</p></section>`;
  const status = execution.status;
  const finished = ["completed", "failed", "cancelled"].includes(status);
  const role = roleBlocks("operator") || hubBlocks();
  const act = async (action, path = action, body = undefined) => {
    setBusy(action);
    try {
      // The answer is not applied: the events that follow tell what happened, in order.
      await post(`/api/v1/executions/${encodeURIComponent(id)}/${path}`, body);
    } catch (e) {
      toast("bad", `${action} failed`, e.message);
    } finally {
      setBusy(null);
    }
  };
  const steps = Array.isArray(definition.steps) ? definition.steps : [];
  const held = Object.entries(runs).filter(([, run]) => run.status === "held");
  return html`<section aria-labelledby="execution-title" data-execution-page=${id} data-status=${text(status)}>
    <header class="view-head"><h1 id="execution-title">${id}</h1><${Status} value=${status} />
      <span class="muted">${text(execution.workflow_id)} v${number(execution.version)}</span>
      <div class="actions">
        <${Action} name=${id} label="Cancel" busy=${busy === "cancel"} onClick=${() => act("cancel")}
          reason=${role || (finished ? `the execution is ${status}` : null)} />
        <${Action} name=${id} label="Pause" busy=${busy === "pause"} onClick=${() => act("pause")}
          reason=${role || (status !== "running" ? `the execution is ${text(status)}, not running` : null)} />
        <${Action} name=${id} label="Resume" busy=${busy === "resume"} onClick=${() => act("resume")}
          reason=${role || (status !== "paused" ? `the execution is ${text(status)}, not paused` : null)} />
      </div></header>
    ${execution.error || (status === "failed" && execution.error) ? html`<p class="error-note">${text(execution.error)}</p>` : null}
    ${held.length ? html`<div class="held" role="region" aria-label="Held steps">${held.map(([step, run]) => html`
      <div key=${step} class="toast tone-warn" data-held=${step}><strong>${step} is held for a decision.</strong>
        <span>${text(run.error)}</span>
        ${["retry", "skip", "fail"].map((action) => html`<${Action} key=${action} name=${`${id}-${step}`}
          label=${action[0].toUpperCase() + action.slice(1)} busy=${busy === `${step}:${action}`} reason=${role}
          onClick=${() => act(`${step}:${action}`, `steps/${encodeURIComponent(step)}/decide`, { action })} />`)}
      </div>`)}</div>` : null}
    <${Dag} steps=${steps} states=${runs} />
    <div class="table-wrap"><table data-table="steps"><thead><tr><th scope="col">Step</th><th scope="col">Status</th>
      <th scope="col">Attempts</th><th scope="col">Arguments</th><th scope="col">Result or error</th></tr></thead>
      <tbody>${steps.map((step) => {
        const run = runs[step.id] || {};
        return html`<tr key=${step.id} data-step-row=${step.id}><th scope="row">${step.id}</th>
          <td><${Status} value=${run.status || "pending"} /></td><td class="num">${number(run.attempt)}</td>
          <td><code>${JSON.stringify(step.args || {}).slice(0, 200)}</code></td>
          <td>${run.error ? html`<span class="error-note">${text(run.error)}</span>`
            : run.result !== undefined && run.result !== null ? html`<code>${JSON.stringify(run.result).slice(0, 300)}</code>` : "—"}</td></tr>`;
      })}</tbody></table></div>
  </section>`;
}

// -- the DAG -------------------------------------------------------------------------------------

// dagre (17 KB gzipped) loads with the first DAG, not with the page.
let dagre = null;
let dagreLoading = null;
function loadDagre() {
  dagreLoading = dagreLoading || import("../vendor/dagre.js").then((module) => { dagre = module.default || module; });
  return dagreLoading;
}

const NODE_W = 150;
const NODE_H = 40;

function layout(steps) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 20, ranksep: 40, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const step of steps) g.setNode(step.id, { width: NODE_W, height: NODE_H });
  for (const step of steps) {
    for (const dep of Array.isArray(step.dependencies) ? step.dependencies : []) if (g.hasNode(dep)) g.setEdge(dep, step.id);
  }
  dagre.layout(g);
  return g;
}

function Dag({ steps, states }) {
  const [ready, setReady] = useState(dagre !== null);
  useEffect(() => {
    if (!ready) loadDagre().then(() => setReady(true));
  }, []);
  const key = steps.map((s) => `${s.id}<${(s.dependencies || []).join(",")}`).join("|");
  const graph = useRef({ key: null, g: null });
  if (!ready || steps.length === 0) return html`<div class="dag" data-dag="loading"></div>`;
  if (graph.current.key !== key) graph.current = { key, g: layout(steps) };
  const g = graph.current.g;
  const { width = 0, height = 0 } = g.graph();
  return html`<div class="dag" data-dag>
    <svg viewBox=${`0 0 ${Math.ceil(width)} ${Math.ceil(height)}`} width=${Math.ceil(width)} role="img"
      aria-label=${`steps: ${steps.map((s) => `${s.id} ${(states[s.id] && states[s.id].status) || "pending"}`).join(", ")}`}>
      ${g.edges().map((e) => {
        const points = g.edge(e).points || [];
        return html`<polyline key=${`${e.v}-${e.w}`} class="edge" points=${points.map((p) => `${p.x},${p.y}`).join(" ")} />`;
      })}
      ${steps.map((step) => {
        const node = g.node(step.id);
        const status = (states[step.id] && states[step.id].status) || "pending";
        const tone = { completed: "ok", failed: "bad", running: "info", retrying: "warn", held: "warn", skipped: "muted", cancelled: "muted" }[status] || "muted";
        return html`<g key=${step.id} class=${`node tone-${tone}`} data-step=${step.id} data-step-status=${status}
          transform=${`translate(${node.x - NODE_W / 2},${node.y - NODE_H / 2})`}>
          <rect width=${NODE_W} height=${NODE_H} rx="6" />
          <text x="8" y="16">${step.id.length > 20 ? `${step.id.slice(0, 19)}…` : step.id}</text>
          <text x="8" y="32" class="muted">${status}</text></g>`;
      })}
    </svg></div>`;
}
