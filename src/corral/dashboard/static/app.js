// The dashboard's shell: signing in, the navigation, the connection banner, toasts, the event window,
// and which view the URL's fragment (#/servers/echo) names.

import { html, render, useEffect, useState } from "./lib.js";
import { session, openSession, logIn, openAnonymously, signOut, tokenFromFragment, get, ApiError } from "./api.js";
import { live, connect, disconnect, seedMetrics } from "./live.js";
import { useLive, ErrorNote, Empty } from "./ui.js";
import { clock } from "./format.js";
import { toasts, dismiss, startAlerts, KINDS, muted, setMuted } from "./alerts.js";
import { Servers, ServerPage } from "./views/servers.js";
import { Overview } from "./views/overview.js";
import { EventWindow } from "./views/events.js";
import { Tools } from "./views/tools.js";
import { Workflows, Executions, ExecutionPage } from "./views/workflows.js";
import { Patterns } from "./views/patterns.js";
import { Audit } from "./views/audit.js";
import { Agents } from "./views/agents.js";
import { Tasks, TaskPage } from "./views/tasks.js";
import { Nodes, NodePage } from "./views/nodes.js";

const NAV = [
  ["overview", "Overview"], ["servers", "Servers"], ["tools", "Tools"], ["workflows", "Workflows"],
  ["executions", "Executions"], ["patterns", "Patterns"], ["audit", "Audit"], ["agents", "Agents"],
  ["tasks", "Tasks"], ["nodes", "Nodes"],
];

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("?")[0].split("/").map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  });
  return { view: parts[0] || "overview", arg: parts.slice(1).join("/") || null };
}

function useRoute() {
  const [current, setCurrent] = useState(route());
  useEffect(() => {
    const changed = () => setCurrent(route());
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return current;
}

function Banner() {
  const state = useLive();
  if (state.state === "open" || state.state === "idle") return null;
  const first = state.asOf === null;
  return html`<div class="banner" role="status" data-connection=${state.state} data-close-code=${state.closeCode ?? ""}>
    ${first ? "Connecting to the hub…" : html`Reconnecting… data as of <time data-as-of>${clock(state.asOf)}</time>`}
    ${state.notice && state.closeCode !== null ? html` <span data-notice>${state.notice}</span>` : null}
  </div>`;
}

function Toasts() {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const listener = () => setVersion((v) => v + 1);
    toasts.listeners.add(listener);
    return () => toasts.listeners.delete(listener);
  }, []);
  return html`<div class="toasts" aria-live="polite">${toasts.items.map((item) => html`
    <div key=${item.id} class=${`toast tone-${item.tone}`} data-toast=${item.kind || item.tone}>
      <strong>${item.title}</strong> ${item.body ? html`<span>${item.body}</span>` : null}
      <button type="button" class="link" aria-label="Dismiss" onClick=${() => dismiss(item.id)}>×</button>
    </div>`)}</div>`;
}

function AlertSettings() {
  const [, setVersion] = useState(0);
  const off = muted();
  const supported = typeof Notification !== "undefined";
  const permission = supported ? Notification.permission : "unsupported";
  return html`<details class="menu" data-menu="alerts"><summary>Alerts</summary>
    <div class="menu-body">
      <fieldset><legend>Alert me when</legend>
        ${Object.entries(KINDS).map(([kind, label]) => html`<label key=${kind} class="check">
          <input type="checkbox" checked=${!off.has(kind)} data-alert=${kind}
            onChange=${(e) => { setMuted(kind, !e.target.checked); setVersion((v) => v + 1); }} /> ${label}</label>`)}
      </fieldset>
      ${permission === "default" ? html`<button type="button" data-action="notifications"
          onClick=${() => Notification.requestPermission().then(() => setVersion((v) => v + 1))}>
          Also as browser notifications</button>`
        : html`<p class="muted">Browser notifications: ${permission === "granted" ? "on (when this tab is hidden)" : permission}</p>`}
    </div></details>`;
}

function SignIn({ onSignedIn, note }) {
  const [mode, setMode] = useState("password");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    setBusy(true);
    setError(null);
    try {
      const opened = mode === "password"
        ? await logIn(String(form.get("username")), String(form.get("password")))
        : await openSession(String(form.get("token")).trim());
      onSignedIn(opened);
    } catch (e) {
      setError(e instanceof ApiError && e.status === 401 ? new Error("Wrong user name, password or token.") : e);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="signin">
    <h1>Corral</h1>
    <form onSubmit=${submit} data-form="signin" aria-label="Sign in">
      ${note ? html`<p class="muted">${note}</p>` : null}
      <fieldset class="tabs"><legend class="visually-hidden">Sign in with</legend>
        <label><input type="radio" name="mode" checked=${mode === "password"} onChange=${() => setMode("password")} />
          User name and password</label>
        <label><input type="radio" name="mode" checked=${mode === "token"} onChange=${() => setMode("token")} />
          API token</label>
      </fieldset>
      ${mode === "password" ? html`
        <label>User name <input name="username" autocomplete="username" required /></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>`
      : html`<label>API token <input name="token" type="password" autocomplete="off" required /></label>`}
      <${ErrorNote} error=${error} />
      <button type="submit" disabled=${busy}>${busy ? "Signing in…" : "Sign in"}</button>
    </form>
  </main>`;
}

function View({ view, arg }) {
  const [serverQuery, setServerQuery] = useState("");
  switch (view) {
    case "overview": return html`<${Overview} />`;
    case "servers":
      return arg ? html`<${ServerPage} name=${arg} />` : html`<${Servers} query=${serverQuery} setQuery=${setServerQuery} />`;
    case "tools": return html`<${Tools} selected=${arg} />`;
    case "workflows": return html`<${Workflows} selected=${arg} />`;
    case "executions": return arg ? html`<${ExecutionPage} id=${arg} />` : html`<${Executions} />`;
    case "patterns": return html`<${Patterns} />`;
    case "audit": return html`<${Audit} />`;
    case "agents": return html`<${Agents} />`;
    case "tasks": return arg ? html`<${TaskPage} id=${arg} />` : html`<${Tasks} />`;
    case "nodes": return arg ? html`<${NodePage} name=${arg} />` : html`<${Nodes} />`;
    default:
      return html`<section><h1>Not found</h1><${Empty} title="No such page">Pick a page from the navigation.<//></section>`;
  }
}

function Shell({ who, onSignOut }) {
  const { view, arg } = useRoute();
  const [eventsOpen, setEventsOpen] = useState(false);
  useLive();
  useEffect(() => {
    const title = NAV.find(([key]) => key === view);
    document.title = `${title ? title[1] : "Corral"}${arg ? ` · ${arg}` : ""} — Corral`;
  }, [view, arg]);
  return html`<div class="shell">
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <span class="brand">Corral</span>
      <nav aria-label="Main"><ul>${NAV.map(([key, label]) => html`<li key=${key}>
        <a href=${`#/${key}`} aria-current=${view === key ? "page" : undefined} data-nav=${key}>${label}</a></li>`)}
      </ul></nav>
      <span class="who" data-role=${who.role}>${who.name} · ${who.role}</span>
      <span class=${`dot conn-${live.state}`} data-connection-state=${live.state} title=${`event stream: ${live.state}`}>
        <span aria-hidden="true">●</span><span class="visually-hidden">event stream ${live.state}</span></span>
      <${AlertSettings} />
      <button type="button" class="link" aria-expanded=${eventsOpen} data-open="events"
        onClick=${() => setEventsOpen(!eventsOpen)}>Events</button>
      ${who.anonymous ? null : html`<button type="button" class="link" data-action="sign-out" onClick=${onSignOut}>Sign out</button>`}
    </header>
    <${Banner} />
    <main id="main" tabindex="-1"><${View} view=${view} arg=${arg} /></main>
    ${eventsOpen ? html`<${EventWindow} onClose=${() => setEventsOpen(false)} />` : null}
    <${Toasts} />
  </div>`;
}

function App() {
  const [who, setWho] = useState(null);
  const [phase, setPhase] = useState("starting"); // starting | signin | in
  const [note, setNote] = useState(null);

  const enter = (opened) => {
    setWho(opened);
    setPhase("in");
    connect(opened.token, {
      unauthorized: () => {
        session.set(null);
        setNote("Your session ended; sign in again.");
        setPhase("signin");
      },
    });
    get("/api/v1/metrics/history").then((body) => seedMetrics(body && body.items)).catch(() => null);
  };

  useEffect(() => {
    (async () => {
      try {
        const handed = tokenFromFragment();
        if (handed) return enter(await openSession(handed));
        if (session.current && session.current.token) {
          const whoami = await get("/api/v1/auth/whoami");
          return enter({ ...session.current, name: whoami.name, role: whoami.role });
        }
        const hub = await get("/dashboard/hub.json", { token: null });
        if (hub && hub.auth === false) return enter(await openAnonymously());
        setPhase("signin");
      } catch {
        setPhase("signin");
      }
    })();
    startAlerts();
    const ended = (value) => {
      if (value === null && phase !== "signin") {
        disconnect();
        setPhase("signin");
      }
    };
    session.listeners.add(ended);
    return () => session.listeners.delete(ended);
  }, []);

  if (phase === "starting") return html`<p class="loading">Loading Corral…</p>`;
  if (phase === "signin") return html`<${SignIn} note=${note} onSignedIn=${(opened) => { setNote(null); enter(opened); }} />`;
  return html`<${Shell} who=${who} onSignOut=${async () => {
    disconnect();
    await signOut();
    setNote("Signed out.");
    setPhase("signin");
  }} />`;
}

render(html`<${App} />`, document.getElementById("app"));
