// Turning values into text. Anything missing or malformed shows as "—", never undefined or NaN.

export const DASH = "—";

export function text(value) {
  if (value === null || value === undefined || value === "") return DASH;
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : DASH;
  if (typeof value === "object") return DASH;
  return String(value);
}

export function number(value, digits = 0) {
  const n = typeof value === "string" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n)) return DASH;
  return n.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function ms(value) {
  const n = Number(value);
  if (value === null || value === undefined || !Number.isFinite(n)) return DASH;
  if (n >= 1000) return `${number(n / 1000, 2)} s`;
  return `${number(n, n < 10 ? 1 : 0)} ms`;
}

export function percent(value) {
  const n = Number(value);
  if (value === null || value === undefined || !Number.isFinite(n)) return DASH;
  return `${number(n * 100, 1)} %`;
}

export function duration(seconds) {
  const s = Number(seconds);
  if (seconds === null || seconds === undefined || !Number.isFinite(s) || s < 0) return DASH;
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function parseTime(value) {
  if (typeof value !== "string" && typeof value !== "number") return null;
  const t = new Date(value).getTime();
  return Number.isFinite(t) ? t : null;
}

export function ago(value, now = Date.now()) {
  const t = parseTime(value);
  if (t === null) return DASH;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function clock(value) {
  const t = typeof value === "number" ? value : parseTime(value);
  if (t === null || !Number.isFinite(t)) return DASH;
  return new Date(t).toLocaleTimeString("en-GB", { hour12: false });
}

export function dateTime(value) {
  const t = parseTime(value);
  if (t === null) return DASH;
  return new Date(t).toLocaleString("en-GB", { hour12: false });
}

export function list(values) {
  return Array.isArray(values) && values.length ? values.map(text).join(", ") : DASH;
}

// Server and execution statuses: each has a word, an icon and a colour class, so colour is never alone.
const STATUS = {
  healthy: ["●", "ok"], running: ["▶", "info"], completed: ["✓", "ok"], succeeded: ["✓", "ok"],
  starting: ["◌", "info"], pending: ["◌", "info"], degraded: ["▲", "warn"], paused: ["Ⅱ", "warn"],
  held: ["✋", "warn"], retrying: ["↻", "warn"], circuit_open: ["⊘", "bad"], crashed: ["✕", "bad"],
  failed: ["✕", "bad"], stopped: ["■", "muted"], disabled: ["○", "muted"], cancelled: ["■", "muted"],
  skipped: ["↷", "muted"], unknown: ["?", "muted"], closed: ["●", "ok"], open: ["⊘", "bad"],
  half_open: ["◐", "warn"], queued: ["◌", "info"], dispatched: ["▶", "info"], lost: ["✕", "bad"],
};

export function statusOf(value) {
  const word = typeof value === "string" && value ? value : "unknown";
  const [icon, tone] = STATUS[word] || STATUS.unknown;
  return { word, icon, tone };
}
