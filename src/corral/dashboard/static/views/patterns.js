// Patterns: the list, a target and parameters, validation with each precondition's verdict, apply, and
// the applications so far (their executions follow live on the execution page).

import { html, useEffect, useState } from "../lib.js";
import { get, post } from "../api.js";
import { onEvent } from "../live.js";
import { SchemaForm, initial } from "../schemaform.js";
import { useLive, Action, Empty, ErrorNote, Status, roleBlocks, hubBlocks } from "../ui.js";
import { dateTime, list, text } from "../format.js";

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

export function Patterns() {
  const state = useLive();
  const [patterns, setPatterns] = useState(null);
  const [applications, setApplications] = useState([]);
  const [picked, setPicked] = useState(null);
  const [error, setError] = useState(null);
  const loadApplications = () => get("/api/v1/patterns/applications?limit=50")
    .then((body) => setApplications(body.items || [])).catch(setError);
  useEffect(() => {
    get("/api/v1/patterns?limit=200").then((body) => setPatterns(body.items || [])).catch(setError);
    loadApplications();
    // A new application is an event: read the list again then, never on a timer.
    return onEvent((event) => { if (event.type === "pattern.applied") loadApplications(); });
  }, [state.resets]);
  const pattern = patterns && patterns.find((p) => p.id === picked);
  return html`<section aria-labelledby="patterns-title">
    <header class="view-head"><h1 id="patterns-title">Patterns</h1></header>
    <${ErrorNote} error=${error} />
    ${patterns === null ? html`<p class="muted">Loading…</p>` : patterns.length === 0
      ? html`<${Empty} title="No patterns">Put pattern files in the patterns folder to list them here.<//>`
      : html`<div class="split"><ul class="pick-list" aria-label="Patterns">${patterns.map((p) => html`<li key=${p.id}>
          <a href="#/patterns" data-pattern=${p.id} aria-current=${p.id === picked ? "true" : undefined}
            onClick=${(e) => { e.preventDefault(); setPicked(p.id); }}>${text(p.name || p.id)}
            <br /><small class="muted">${text(p.target)} · ${list(p.preconditions)}</small></a></li>`)}</ul>
        <div>${pattern ? html`<${PatternForm} key=${pattern.id} pattern=${pattern} servers=${[...state.servers.keys()]} />`
          : html`<${Empty} title="Pick a pattern">Choose one to validate it against a target and apply it.<//>`}</div></div>`}
    <h2>Applications</h2>
    ${applications.length === 0 ? html`<p class="muted">None yet.</p>` : html`<div class="table-wrap"><table data-table="applications">
      <thead><tr><th scope="col">Time</th><th scope="col">Pattern</th><th scope="col">Target</th><th scope="col">Status</th>
        <th scope="col">Execution</th></tr></thead>
      <tbody>${applications.map((a) => {
        // The application follows its execution: its status moves with the execution's events.
        const running = a.execution_id && state.executions.get(a.execution_id);
        const status = running && running.status ? running.status : a.status;
        return html`<tr key=${a.application_id} data-application=${a.application_id} data-pattern-id=${text(a.pattern_id)}
          data-target=${text(a.target)} data-status=${text(status)}>
        <td>${dateTime(a.created_at)}</td><td>${text(a.pattern_id)}</td><td>${text(a.target)}</td>
        <td><${Status} value=${status} /></td>
        <td>${a.execution_id ? html`<a href=${`#/executions/${encodeURIComponent(a.execution_id)}`}>${a.execution_id}</a>` : "—"}</td>
      </tr>`;
      })}</tbody></table></div>`}
  </section>`;
}

function PatternForm({ pattern, servers }) {
  const schema = paramsSchema(pattern.params);
  const [target, setTarget] = useState(servers[0] || "");
  const [params, setParams] = useState(() => initial(schema, schema) || {});
  const [verdict, setVerdict] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(null);
  const run = async (what) => {
    setBusy(what);
    setError(null);
    try {
      const body = { target, params };
      if (what === "validate") setVerdict(await post(`/api/v1/patterns/${encodeURIComponent(pattern.id)}/validate`, body));
      else {
        const applied = await post(`/api/v1/patterns/${encodeURIComponent(pattern.id)}/apply`, body);
        if (applied && applied.execution_id) location.hash = `#/executions/${encodeURIComponent(applied.execution_id)}`;
      }
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };
  return html`<section aria-labelledby="pattern-title" data-pattern-page=${pattern.id}>
    <h2 id="pattern-title">${text(pattern.name || pattern.id)}</h2>
    <p>${text(pattern.description)}</p>
    <form onSubmit=${(e) => { e.preventDefault(); run("validate"); }} class="form-grid">
      <label>Target (${text(pattern.target)})<input list="pattern-targets" value=${target} data-field="target"
        onInput=${(e) => setTarget(e.target.value)} required /></label>
      <datalist id="pattern-targets">${servers.map((name) => html`<option key=${name} value=${name} />`)}</datalist>
      ${Object.keys(schema.properties).length ? html`<${SchemaForm} schema=${schema} value=${params} onChange=${setParams} idPrefix="param" />` : null}
      <div class="actions">
        <${Action} name=${pattern.id} label="Validate" busy=${busy === "validate"} reason=${roleBlocks("operator") || hubBlocks()}
          onClick=${() => run("validate")} />
        <${Action} name=${pattern.id} label="Apply" kind="primary" busy=${busy === "apply"}
          reason=${roleBlocks("operator") || hubBlocks()} onClick=${() => run("apply")} />
      </div>
    </form>
    <${ErrorNote} error=${error} />
    ${verdict ? html`<div data-verdict=${verdict.ok ? "ok" : "refused"}>
      <p><${Status} value=${verdict.ok ? "completed" : "failed"} label=${verdict.ok ? "can be applied" : "cannot be applied"} /></p>
      <ul>${(verdict.preconditions || []).map((p) => html`<li key=${p.key || p.precondition} data-precondition=${p.key || p.precondition}
          data-passed=${String(Boolean(p.passed))}>
        <${Status} value=${p.passed ? "completed" : "failed"} label=${p.passed ? "passed" : "failed"} /> ${text(p.precondition)}: ${text(p.message)}</li>`)}
        ${(verdict.parameters || []).map((p) => html`<li key=${`param-${p.name}`} class="error-note" data-parameter=${text(p.name)}>
          ${text(p.name)}: ${text(p.message)}</li>`)}</ul>
    </div>` : null}
  </section>`;
}
