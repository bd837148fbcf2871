// Small pieces every view uses: status badges, action buttons that say why they cannot act, the live hook.

import { html, useEffect, useRef, useState } from "./lib.js";
import { live, onEvent, subscribe } from "./live.js";
import { get, session, may } from "./api.js";
import { statusOf, clock } from "./format.js";

/** Re-render the calling component whenever the live state changes. */
export function useLive() {
  const [, setVersion] = useState(live.version);
  useEffect(() => subscribe(setVersion), []);
  return live;
}

const BURST_MS = 300; // events come in bursts: one read per burst

/** GET `path` now, again after each burst of events whose type starts with `prefix` (and whose subject
 * is `subject`, when given), and again when `epoch` changes (the stream was reset: events were missed). */
export function useReadOnEvents(path, prefix, epoch, subject = null) {
  const [body, setBody] = useState(null);
  const [error, setError] = useState(null);
  const timer = useRef(null);
  useEffect(() => {
    let alive = true;
    const load = () => get(path).then((b) => alive && (setBody(b), setError(null))).catch((e) => alive && setError(e));
    load();
    const off = onEvent((event) => {
      if (typeof event.type !== "string" || !event.type.startsWith(prefix)) return;
      if (subject !== null && event.subject !== subject) return;
      clearTimeout(timer.current);
      timer.current = setTimeout(load, BURST_MS);
    });
    return () => { alive = false; off(); clearTimeout(timer.current); };
  }, [path, prefix, epoch, subject]);
  return { body, error };
}

/** Re-render every `ms` (for "3 s ago" texts); no request is made. */
export function useTick(ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function Status({ value, label }) {
  const { word, icon, tone } = statusOf(value);
  return html`<span class=${`badge tone-${tone}`} data-status=${word}>
    <span aria-hidden="true">${icon}</span> ${label || word.replaceAll("_", " ")}</span>`;
}

/** Why the signed-in person cannot do something that needs `minimum`, or null. */
export function roleBlocks(minimum) {
  const role = session.current && session.current.role;
  if (may(role, minimum)) return null;
  return `needs the ${minimum} role; you are ${role || "signed out"}`;
}

export function hubBlocks() {
  if (live.state === "open") return null;
  return `the hub is unreachable (data as of ${clock(live.asOf)})`;
}

/** A button that is disabled with its reason as tooltip and accessible description when `reason` is set. */
export function Action({ label, reason, onClick, name, busy, kind }) {
  const id = `why-${name}-${label}`.replace(/[^A-Za-z0-9_-]/g, "-");
  const disabled = Boolean(reason) || busy;
  return html`<span class="action" title=${reason || ""}>
    <button type="button" class=${kind || ""} data-action=${label.toLowerCase()} disabled=${disabled}
      data-reason=${reason || ""} aria-describedby=${reason ? id : undefined} onClick=${onClick}>
      ${busy ? "…" : label}</button>
    ${reason ? html`<span id=${id} class="visually-hidden">${reason}</span>` : null}
  </span>`;
}

export function Empty({ title, children }) {
  return html`<div class="empty" data-empty>
    <h2>${title}</h2>
    <p>${children}</p>
  </div>`;
}

export function ErrorNote({ error }) {
  if (!error) return null;
  return html`<p class="error-note" role="alert">${String(error.message || error)}</p>`;
}

/** A panel of labelled facts: `items` is [[label, value, hook?], …]; the hook names a data-fact attribute. */
export function Facts({ items }) {
  return html`<dl class="facts">${items.map(([label, value, hook]) => html`<div key=${label} data-fact=${hook}>
    <dt>${label}</dt><dd>${value}</dd></div>`)}</dl>`;
}
