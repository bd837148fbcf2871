// What a close of the event stream means for the page: the words its banner shows and how long the
// next attempt waits. The codes are the hub's (docs/api.md, "Close codes"): 4000 + an HTTP status
// where no standard code fits. Pure: no socket, no timer.

const BACKOFF_MS = 250;   // a hub restart takes a second or two: try quickly first
const BACKOFF_MAX_MS = 3000;
const REFUSED_MIN_MS = 1000; // told to slow down: never sooner than this

/** The seconds a reason asks the page to wait ("rate limited; retry in 2.50 s"), or null. */
export function retryAfterMs(reason) {
  const match = /retry in ([\d.]+) s/.exec(String(reason || ""));
  const seconds = match ? Number(match[1]) : NaN;
  return Number.isFinite(seconds) ? seconds * 1000 : null;
}

/** The event id a reason says to resume from ("…; resume with last_event_id=42"), or null. */
export function resumeFrom(reason) {
  const match = /last_event_id=(\d+)/.exec(String(reason || ""));
  return match ? Number(match[1]) : null;
}

/** For a close with `code` and `reason` after `attempts` failed tries in a row (random in [0, 1)):
 * `{ signIn }` when only signing in again helps, else `{ delayMs, notice }` — the wait before the next
 * attempt and the sentence the banner shows meanwhile. */
export function afterClose(code, reason, attempts, random = Math.random()) {
  if (code === 4401) return { signIn: true };
  const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_MS * 2 ** attempts) * (0.8 + random * 0.4);
  const said = String(reason || "").trim();
  switch (code) {
    case 4429: {
      const delayMs = Math.max(REFUSED_MIN_MS, retryAfterMs(said) ?? 0, backoff);
      return { delayMs, notice: `The hub is limiting this tab (${said || "too many requests"}); trying again in ${seconds(delayMs)}.` };
    }
    case 4503: {
      const from = resumeFrom(said);
      return {
        delayMs: Math.max(REFUSED_MIN_MS, backoff),
        notice: `The hub dropped this tab for falling behind${from === null ? "" : ` at event ${from}`}; catching up from there.`,
      };
    }
    case 1001:
    case 1012:
      return { delayMs: backoff, notice: "The hub is restarting." };
    case 4408:
      return { delayMs: backoff, notice: "The hub closed an idle connection." };
    default:
      return { delayMs: backoff, notice: said ? `Connection lost (${said}).` : "Connection lost." };
  }
}

function seconds(ms) {
  return `${Math.round(ms / 100) / 10} s`;
}
