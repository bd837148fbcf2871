// Audit: who did what, newest first. The first page comes from REST, newer entries from audit.recorded
// events as they happen (admins only, as on the API); filters live in the URL; export as JSONL or CSV.

import { html, useEffect, useState } from "../lib.js";
import { get, request, session, may } from "../api.js";
import { useLive, Empty, ErrorNote } from "../ui.js";
import { dateTime, ms, text } from "../format.js";

const FIELDS = ["actor", "action", "target", "outcome"];

function filtersFromUrl() {
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  return Object.fromEntries(FIELDS.map((field) => [field, query.get(field) || ""]));
}

function query(filters, extra = {}) {
  const params = new URLSearchParams();
  for (const field of FIELDS) if (filters[field]) params.set(field, filters[field]);
  for (const [key, value] of Object.entries(extra)) if (value) params.set(key, value);
  return params.toString();
}

function matches(entry, filters) {
  return FIELDS.every((field) => {
    const wanted = filters[field];
    if (!wanted) return true;
    const value = String(entry[field] ?? "");
    return wanted.endsWith("*") ? value.startsWith(wanted.slice(0, -1)) : value === wanted;
  });
}

const key = (entry) => `${entry.time}|${entry.actor}|${entry.action}|${entry.target}|${entry.outcome}`;

export function Audit() {
  const state = useLive();
  const [filters, setFilters] = useState(filtersFromUrl);
  const [page, setPage] = useState({ items: [], next: null, loading: true });
  const [error, setError] = useState(null);
  const [openedAt, setOpenedAt] = useState(0);
  const role = session.current && session.current.role;
  const allowed = may(role, "admin");

  useEffect(() => {
    if (!allowed) return;
    let alive = true;
    setPage({ items: [], next: null, loading: true });
    setOpenedAt(state.audit.length ? state.audit[0]._event : state.lastEventId || 0);
    get(`/api/v1/audit?${query(filters, { limit: "100" })}`)
      .then((body) => alive && setPage({ items: body.items || [], next: body.next_cursor, loading: false }))
      .catch((e) => alive && (setError(e), setPage({ items: [], next: null, loading: false })));
    return () => { alive = false; };
  }, [filters.actor, filters.action, filters.target, filters.outcome, allowed, state.resets]);

  if (!allowed) {
    return html`<section><h1>Audit</h1>
      <${Empty} title="Not allowed for your role">The audit log is for admins; you are ${text(role)}.<//></section>`;
  }
  const setFilter = (field, value) => {
    const next = { ...filters, [field]: value };
    setFilters(next);
    const q = query(next);
    history.replaceState(null, "", `#/audit${q ? `?${q}` : ""}`);
  };
  const older = async () => {
    const body = await get(`/api/v1/audit?${query(filters, { limit: "100", cursor: page.next })}`);
    setPage({ items: [...page.items, ...(body.items || [])], next: body.next_cursor, loading: false });
  };
  const exportAs = async (format) => {
    try {
      const body = await request("GET", `/api/v1/audit/export?${query(filters, { format })}`);
      const blob = new Blob([typeof body === "string" ? body : JSON.stringify(body)], { type: "text/plain" });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `corral-audit.${format}`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    } catch (e) {
      setError(e);
    }
  };
  const seen = new Set(page.items.map(key));
  const fresh = state.audit.filter((entry) => entry._event > openedAt && matches(entry, filters) && !seen.has(key(entry)));
  const entries = [...fresh, ...page.items];
  return html`<section aria-labelledby="audit-title">
    <header class="view-head"><h1 id="audit-title">Audit</h1>
      ${FIELDS.map((field) => html`<label key=${field}>${field[0].toUpperCase() + field.slice(1)}
        <input type="search" value=${filters[field]} data-filter=${field} size="12"
          onChange=${(e) => setFilter(field, e.target.value.trim())} /></label>`)}
      <button type="button" onClick=${() => exportAs("jsonl")} data-export="jsonl">Export JSONL</button>
      <button type="button" onClick=${() => exportAs("csv")} data-export="csv">Export CSV</button>
    </header>
    <${ErrorNote} error=${error} />
    ${entries.length === 0 && !page.loading ? html`<${Empty} title="No entries">Nothing matches these filters yet.<//>` : html`
    <div class="table-wrap"><table data-table="audit"><thead><tr><th scope="col">Time</th><th scope="col">Actor</th>
      <th scope="col">Action</th><th scope="col">Target</th><th scope="col">Outcome</th><th scope="col">Source</th>
      <th scope="col">Duration</th></tr></thead>
    <tbody>${entries.map((entry) => html`<tr key=${entry.id ?? `e${entry._event}`} data-audit=${entry.action}>
      <td>${dateTime(entry.time)}</td><td>${text(entry.actor)}</td><td>${text(entry.action)}</td>
      <td>${text(entry.target)}</td><td>${text(entry.outcome)}</td><td>${text(entry.source)}</td>
      <td class="num">${ms(entry.duration_ms)}</td></tr>`)}</tbody></table></div>`}
    ${page.next ? html`<div class="pager"><button type="button" onClick=${older}>Older entries</button></div>` : null}
  </section>`;
}
