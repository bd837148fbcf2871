// The signed-in person's recent tool calls, read from the hub's audit trail (GET /api/v1/audit/mine,
// action tool.call): the same list in every browser and tab, whatever client made the calls. Each
// entry keeps the call's arguments (when they were small enough to audit), so a call can be made again.

import { html, useEffect, useRef, useState } from "../lib.js";
import { get } from "../api.js";
import { useLive, Action, ErrorNote, Status } from "../ui.js";
import { clock, dateTime, ms, text } from "../format.js";

const SHOWN = 20;
const FOLLOW_UP_MS = [300, 600, 1200, 2400]; // the audit log stores entries a moment after the call

const OUTCOME = { ok: "completed", cancelled: "cancelled" };
const listeners = new Set();

/** Say that this tab just made a call (the list reads the trail again until it shows up). */
export function called() {
  for (const listener of listeners) listener();
}

async function read() {
  const body = await get(`/api/v1/audit/mine?action=tool.call&limit=${SHOWN}`);
  return Array.isArray(body && body.items) ? body.items : [];
}

/** The server__tool id a call's audit target ("server/tool") names. */
export function toolOf(entry) {
  const target = typeof entry.target === "string" ? entry.target : "";
  const cut = target.indexOf("/");
  return cut > 0 ? `${target.slice(0, cut)}__${target.slice(cut + 1)}` : target;
}

export function CallHistory({ known }) {
  const { resets } = useLive();
  const [calls, setCalls] = useState(null);
  const [error, setError] = useState(null);
  const newest = useRef(0);
  useEffect(() => {
    let alive = true;
    let timer = null;
    const load = (newestBefore, waits) => read()
      .then((items) => {
        if (!alive) return;
        setCalls(items);
        setError(null);
        newest.current = items.length ? items[0].id : 0;
        if (newestBefore !== null && newest.current <= newestBefore && waits.length) {
          timer = setTimeout(() => load(newestBefore, waits.slice(1)), waits[0]);
        }
      })
      .catch((e) => alive && setError(e));
    load(null, []);
    const listener = () => {
      clearTimeout(timer);
      load(newest.current, FOLLOW_UP_MS);
    };
    listeners.add(listener);
    return () => { alive = false; clearTimeout(timer); listeners.delete(listener); };
  }, [resets]);
  const replay = (entry) => {
    const tool = toolOf(entry);
    history.pushState({ replay: { tool, args: entry.detail.arguments, at: entry.id } }, "", `#/tools/${encodeURIComponent(tool)}`);
    dispatchEvent(new HashChangeEvent("hashchange"));
  };
  const why = (entry) => {
    const detail = entry.detail && typeof entry.detail === "object" ? entry.detail : {};
    if (!("arguments" in detail)) {
      return typeof detail.arguments_bytes === "number" ? `its arguments (${detail.arguments_bytes} bytes) were too large to keep`
        : "its arguments were not kept";
    }
    return known.has(toolOf(entry)) ? null : "no server offers this tool now";
  };
  return html`<section aria-labelledby="history-title" data-history>
    <h2 id="history-title">Your recent calls</h2>
    <${ErrorNote} error=${error && error.status !== 404 ? error : null} />
    ${calls === null ? html`<p class="muted">Loading…</p>` : calls.length === 0
      ? html`<p class="muted">None yet: calls you make, here or from any MCP client, are listed from the audit log.</p>`
      : html`<table class="compact" data-table="calls"><thead><tr><th scope="col">Time</th><th scope="col">Tool</th>
          <th scope="col">Outcome</th><th scope="col">Took</th><th scope="col">Arguments</th>
          <th scope="col"><span class="visually-hidden">Replay</span></th></tr></thead>
        <tbody>${calls.map((entry) => html`<tr key=${entry.id} data-call-entry=${entry.id} data-tool=${toolOf(entry)}>
          <td title=${dateTime(entry.time)}>${clock(entry.time)}</td><td>${toolOf(entry)}</td>
          <td><${Status} value=${OUTCOME[entry.outcome] || "failed"} label=${text(entry.outcome)} /></td>
          <td class="num">${ms(entry.duration_ms)}</td>
          <td class="detail"><code>${entry.detail && "arguments" in entry.detail ? JSON.stringify(entry.detail.arguments) : "—"}</code></td>
          <td><${Action} name=${`call-${entry.id}`} label="Replay" reason=${why(entry)} onClick=${() => replay(entry)} /></td>
        </tr>`)}</tbody></table>`}
  </section>`;
}
