// The event window: the connection's state, a reconnect button, the last 200 messages with filters, pause.

import { html, useState } from "../lib.js";
import { live, reconnectNow, setPaused } from "../live.js";
import { useLive } from "../ui.js";
import { clock, text } from "../format.js";

export function EventWindow({ onClose }) {
  const state = useLive();
  const [type, setType] = useState("");
  const [needle, setNeedle] = useState("");
  const types = [...new Set(state.messages.map((m) => m.message.type).filter((t) => typeof t === "string"))].sort();
  const shown = state.messages.filter(({ message }) =>
    (!type || message.type === type) && (!needle || JSON.stringify(message).toLowerCase().includes(needle.toLowerCase())));
  return html`<aside class="event-window" aria-label="Event window" data-panel="events"
    onKeyDown=${(e) => e.key === "Escape" && onClose()}>
    <header><h2>Events</h2>
      <span data-connection-state=${state.state}>${state.state}</span>
      <span class="muted">last id ${text(state.lastEventId)} · as of ${clock(state.asOf)}</span>
      <button type="button" onClick=${reconnectNow} data-action="reconnect">Reconnect</button>
      <button type="button" onClick=${() => setPaused(!live.paused)} aria-pressed=${live.paused}>
        ${live.paused ? "Resume" : "Pause"}</button>
      <button type="button" class="link" onClick=${onClose} aria-label="Close the event window">×</button>
    </header>
    <div class="filters">
      <label>Type <select value=${type} onChange=${(e) => setType(e.target.value)}>
        <option value="">any</option>${types.map((t) => html`<option key=${t} value=${t}>${t}</option>`)}</select></label>
      <label>Text <input type="search" value=${needle} onInput=${(e) => setNeedle(e.target.value)} /></label>
      <span class="muted">${shown.length} of ${state.messages.length}</span>
    </div>
    <ol class="messages" data-messages>${shown.slice().reverse().map(({ at, message }, i) => html`
      <li key=${`${message.id ?? "m"}-${at}-${i}`}><time>${clock(at)}</time> <strong>${text(message.type)}</strong>
        ${" "}${text(message.subject)} <code>${JSON.stringify(message.data ?? message).slice(0, 300)}</code></li>`)}
    </ol>
  </aside>`;
}
