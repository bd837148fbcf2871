// The fleet at a glance: servers by status now, and live charts of the hub's metrics ticks over a
// chosen range. The charts start from GET /api/v1/metrics/history and grow with each metrics.tick.

import { html, useEffect, useRef, useState } from "../lib.js";
import uPlot from "../vendor/uplot.js";
import { useLive } from "../ui.js";
import { Status } from "../ui.js";
import { number, percent, ms, DASH } from "../format.js";

const RANGES = [["5m", "5 min", 300], ["1h", "1 h", 3600], ["24h", "24 h", 86400]];
const CHARTS = [
  ["servers_down", "Servers not healthy", (v) => number(v)],
  ["calls_per_s", "Calls per second", (v) => number(v, 2)],
  ["error_rate", "Error rate", percent],
  ["p95_ms", "p95 latency", ms],
  ["open_circuits", "Open circuits", (v) => number(v)],
  ["running_executions", "Running executions", (v) => number(v)],
];
const ORDER = ["healthy", "degraded", "starting", "circuit_open", "crashed", "stopped", "disabled", "unknown"];

export function Overview() {
  const state = useLive();
  const [range, setRange] = useState(() => localStorage.getItem("corral.range") || "5m");
  const seconds = (RANGES.find(([key]) => key === range) || RANGES[0])[2];
  const counts = new Map();
  for (const server of state.servers.values()) {
    const status = typeof server.status === "string" && server.status ? server.status : "unknown";
    counts.set(status, (counts.get(status) || 0) + 1);
  }
  const statuses = [...counts.keys()].sort((a, b) => rank(a) - rank(b));
  const latest = state.metrics[state.metrics.length - 1] || {};
  const running = [...state.executions.values()].filter((e) => e.status === "running").length;
  const openCircuits = [...state.servers.values()].filter((s) => s.circuit_state && s.circuit_state !== "closed").length;
  return html`<section aria-labelledby="overview-title">
    <header class="view-head"><h1 id="overview-title">Overview</h1>
      <fieldset class="segmented" data-range=${range}><legend class="visually-hidden">Time range</legend>
        ${RANGES.map(([key, label]) => html`<label key=${key}><input type="radio" name="range" value=${key}
          checked=${range === key} onChange=${() => { setRange(key); localStorage.setItem("corral.range", key); }} />
          ${label}</label>`)}
      </fieldset>
    </header>
    <div class="tiles">
      <a class="tile" href="#/servers" data-tile="servers"><span class="tile-label">Servers</span>
        <span class="tile-value">${number(state.servers.size)}</span>
        <span class="tile-sub">${statuses.length === 0 ? DASH : statuses.map((status) => html`<span key=${status}
          data-status-count=${status}><${Status} value=${status} label=${`${counts.get(status)} ${status.replaceAll("_", " ")}`} /> </span>`)}</span></a>
      <div class="tile" data-tile="circuits"><span class="tile-label">Open circuits</span>
        <span class="tile-value">${number(openCircuits)}</span></div>
      <a class="tile" href="#/executions" data-tile="executions"><span class="tile-label">Running executions</span>
        <span class="tile-value">${number(latest.running_executions ?? running)}</span></a>
      <div class="tile" data-tile="calls"><span class="tile-label">Calls per second</span>
        <span class="tile-value">${number(latest.calls_per_s, 2)}</span>
        <span class="tile-sub">errors ${percent(latest.error_rate)} · p95 ${ms(latest.p95_ms)}</span></div>
    </div>
    <div class="charts">${CHARTS.map(([key, label, format]) => html`<${Chart} key=${key} field=${key}
      label=${label} format=${format} seconds=${seconds} points=${state.metrics} version=${state.metrics.length} />`)}
    </div>
  </section>`;
}

function rank(status) {
  const i = ORDER.indexOf(status);
  return i === -1 ? ORDER.length : i;
}

/** The index of the first point at or after `t` (ms) in points sorted by time. */
function firstSince(points, t) {
  let low = 0;
  let high = points.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (points[mid].t < t) low = mid + 1;
    else high = mid;
  }
  return low;
}

function Chart({ field, label, format, seconds, points, version }) {
  const box = useRef(null);
  const plot = useRef(null);
  const span = useRef(seconds);
  span.current = seconds;
  const data = () => {
    const xs = [];
    const ys = [];
    for (const point of points.slice(firstSince(points, Date.now() - seconds * 1000))) {
      xs.push(point.t / 1000);
      ys.push(point[field]);
    }
    return [xs, ys];
  };
  useEffect(() => {
    const width = Math.max(240, box.current.clientWidth || 320);
    const style = getComputedStyle(document.documentElement);
    const stroke = style.getPropertyValue("--accent").trim() || "#2563eb";
    const axis = style.getPropertyValue("--muted").trim() || "#666";
    const grid = style.getPropertyValue("--line").trim() || "#ddd";
    // The x axis always spans the chosen range up to now, however much history there is.
    const xRange = () => { const now = Date.now() / 1000; return [now - span.current, now]; };
    plot.current = new uPlot({
      width, height: 140, legend: { show: false }, cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true, range: xRange }, y: { range: (u, min, max) => [0, Math.max(max || 0, field === "error_rate" ? 0.01 : 1)] } },
      axes: [{ stroke: axis, grid: { stroke: grid }, ticks: { stroke: grid } },
        { stroke: axis, grid: { stroke: grid }, ticks: { stroke: grid }, size: 50, values: (u, vals) => vals.map(format) }],
      series: [{}, { label, stroke, width: 2, fill: `${stroke}22`, spanGaps: false }],
    }, data(), box.current);
    const resize = new ResizeObserver(() => {
      const w = box.current && box.current.clientWidth;
      if (w && plot.current && Math.abs(plot.current.width - w) > 4) plot.current.setSize({ width: w, height: 140 });
    });
    resize.observe(box.current);
    return () => {
      resize.disconnect();
      plot.current.destroy();
      plot.current = null;
    };
  }, [field]);
  useEffect(() => {
    if (plot.current) plot.current.setData(data());
  }, [version, seconds]);
  const last = points.length ? points[points.length - 1][field] : null;
  const shown = points.length - firstSince(points, Date.now() - seconds * 1000);
  return html`<figure class="chart" data-chart=${field} data-points=${shown} data-span=${seconds}>
    <figcaption><span>${label}</span> <strong data-value>${format(last)}</strong></figcaption>
    <div ref=${box} class="plot" role="img" aria-label=${`${label} over the chosen range; now ${format(last)}`}></div>
  </figure>`;
}
