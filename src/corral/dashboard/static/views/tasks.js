// Tasks: newest first, filtered by state; each row moves live with task.* events (live.tasks), and a
// task submitted while the view is open appears on top. A task's page shows its request, its state,
// result or error, progress, and every attempt (which agent, how it ended), read again when its events
// say it moved; a running task can be cancelled, a held one decided.

import { html, useEffect, useState } from "../lib.js";
import { get, post } from "../api.js";
import { useLive, useReadOnEvents, Action, Empty, ErrorNote, Facts, Status, roleBlocks, hubBlocks } from "../ui.js";
import { ago, dateTime, ms, number, parseTime, text } from "../format.js";
import { FINISHED_TASK } from "../work.js";

const STATES = ["queued", "dispatched", "running", "held", "completed", "failed", "cancelled"];
const PAGE = 50;

function what(request) {
  if (!request || typeof request !== "object") return "—";
  return text(request.tool || (request.capability ? `capability ${request.capability}` : null));
}

export function Tasks() {
  const state = useLive();
  const [filter, setFilter] = useState("");
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let alive = true;
    get(`/api/v1/tasks?limit=${PAGE}${filter ? `&state=${filter}` : ""}`)
      .then((body) => alive && setPage(Array.isArray(body.items) ? body.items : []))
      .catch((e) => alive && setError(e));
    return () => { alive = false; };
  }, [filter, state.resets]);
  const rows = (page || []).map((task) => ({ ...task, ...pickLive(state.tasks.get(task.id)) }));
  if (page) {
    const shown = new Set(rows.map((task) => task.id));
    const newest = parseTime(rows[0] && rows[0].created_at) || 0;
    const newer = [...state.tasks.values()].filter((task) => !shown.has(task.id)
      && (parseTime(task.created_at) || 0) >= newest && (!filter || task.state === filter));
    rows.unshift(...newer.sort((a, b) => (parseTime(b.created_at) || 0) - (parseTime(a.created_at) || 0)));
  }
  const visible = rows.filter((task) => !filter || task.state === filter);
  return html`<section aria-labelledby="tasks-title"><header class="view-head"><h1 id="tasks-title">Tasks</h1>
      <label>State <select value=${filter} data-filter="state" onChange=${(e) => setFilter(e.target.value)}>
        <option value="">any</option>${STATES.map((s) => html`<option key=${s} value=${s}>${s}</option>`)}</select></label></header>
    <${ErrorNote} error=${error && error.status !== 404 ? error : null} />
    ${page === null && !error ? html`<p class="muted">Loading…</p>` : visible.length === 0
      ? html`<${Empty} title="No tasks yet">Tasks given to agents (<code>corral tasks submit</code>, <code>POST /api/v1/tasks</code>) are listed here as they run.<//>`
      : html`<div class="table-wrap"><table data-table="tasks"><thead><tr><th scope="col">Task</th><th scope="col">State</th>
          <th scope="col">Tool</th><th scope="col">Agent</th><th scope="col">Attempt</th><th scope="col">Submitted</th>
          <th scope="col">By</th><th scope="col">Error</th></tr></thead>
        <tbody>${visible.map((t) => html`<tr key=${t.id} data-task=${t.id} data-state=${text(t.state)}>
          <th scope="row"><a href=${`#/tasks/${encodeURIComponent(t.id)}`}>${text(t.id)}</a></th>
          <td><${Status} value=${t.state} /></td><td>${what(t.request)}</td><td>${text(t.agent)}</td>
          <td class="num">${number(t.attempt)}</td><td title=${dateTime(t.created_at)}>${ago(t.created_at)}</td>
          <td>${text(t.actor)}</td><td class="detail">${text(t.error)}</td></tr>`)}</tbody></table></div>`}
  </section>`;
}

/** What events know better than a page read a moment ago. */
function pickLive(seen) {
  if (!seen) return {};
  const { state, agent, attempt, error } = seen;
  return Object.fromEntries(Object.entries({ state, agent, attempt, error }).filter(([, v]) => v !== undefined));
}

export function TaskPage({ id }) {
  const state = useLive();
  const { body: task, error } = useReadOnEvents(`/api/v1/tasks/${encodeURIComponent(id)}`, "task.", state.resets, id);
  const [acting, setActing] = useState(null);
  const [actionError, setActionError] = useState(null);
  if (error && !task) return html`<section><h1>Task ${id}</h1><${ErrorNote} error=${error} /></section>`;
  if (!task) return html`<section><h1>Task ${id}</h1><p class="muted">Loading…</p></section>`;
  const seen = state.tasks.get(id) || {};
  const shown = { ...task, ...(Date.parse(seen.updated_at) > Date.parse(task.updated_at || task.created_at) ? pickLive(seen) : {}) };
  const act = async (label, path, body) => {
    setActing(label);
    setActionError(null);
    try {
      await post(path, body);
    } catch (e) {
      setActionError(e);
    } finally {
      setActing(null);
    }
  };
  const base = `/api/v1/tasks/${encodeURIComponent(id)}`;
  const why = roleBlocks("operator") || hubBlocks();
  const request = task.request || {};
  const progress = seen.progress;
  return html`<section aria-labelledby="task-title" data-task-page=${id} data-state=${text(shown.state)}>
    <header class="view-head"><h1 id="task-title">Task ${id}</h1> <${Status} value=${shown.state} />
      <div class="actions">
        ${FINISHED_TASK.has(shown.state) ? null : html`<${Action} name=${id} label="Cancel" busy=${acting === "cancel"}
          reason=${why} onClick=${() => act("cancel", `${base}/cancel`)} />`}
        ${shown.state === "held" ? html`<${Action} name=${id} label="Retry" busy=${acting === "retry"} reason=${why}
            onClick=${() => act("retry", `${base}/decide`, { action: "retry" })} />
          <${Action} name=${id} label="Fail" busy=${acting === "fail"} reason=${why}
            onClick=${() => act("fail", `${base}/decide`, { action: "fail" })} />` : null}
      </div></header>
    <${ErrorNote} error=${actionError} />
    <${Facts} items=${[
      ["Tool", what(request)], ["Agent", text(shown.agent), "agent"], ["Attempt", number(shown.attempt)],
      ["Submitted", `${dateTime(task.created_at)} by ${text(task.actor)}`], ["Finished", dateTime(task.finished_at)],
      ["Project", text(task.project)], ["Tried", Array.isArray(task.tried) && task.tried.length ? task.tried.join(" → ") : "—"],
    ]} />
    ${progress && !FINISHED_TASK.has(shown.state) ? html`<p data-progress=${String(progress.progress ?? "")}>Progress
      ${number(progress.progress)}${progress.total ? ` / ${number(progress.total)}` : ""}${progress.message ? ` · ${progress.message}` : ""}</p>` : null}
    ${shown.error ? html`<p class="error-note" data-error>${shown.error}</p>` : null}
    <h2>Arguments</h2><pre class="result">${JSON.stringify(request.arguments ?? {}, null, 2)}</pre>
    ${task.result !== null && task.result !== undefined ? html`<h2>Result</h2>
      <pre class="result" data-result>${typeof task.result === "string" ? task.result : JSON.stringify(task.result, null, 2)}</pre>` : null}
    <h2>Attempts</h2>
    ${Array.isArray(task.attempts) && task.attempts.length ? html`<div class="table-wrap"><table data-table="attempts">
      <thead><tr><th scope="col">#</th><th scope="col">Agent</th><th scope="col">State</th><th scope="col">Started</th>
        <th scope="col">Took</th><th scope="col">Error</th></tr></thead>
      <tbody>${task.attempts.map((a) => html`<tr key=${a.number} data-attempt=${a.number} data-state=${text(a.state)}>
        <th scope="row">${number(a.number)}</th><td>${text(a.agent)}</td>
        <td><${Status} value=${a.state} label=${a.late ? `${a.state} (late)` : a.state} /></td><td>${dateTime(a.started_at)}</td>
        <td>${a.finished_at ? ms(parseTime(a.finished_at) - parseTime(a.started_at)) : "—"}</td>
        <td class="detail">${text(a.error)}</td></tr>`)}</tbody></table></div>`
      : html`<p class="muted">Not dispatched yet.</p>`}
  </section>`;
}
