// The live state of executions and their steps, from the snapshot's unfinished executions and
// execution.* / step.* events. Reducers only: live.js owns the socket and calls these with its state.

const FINISHED = new Set(["completed", "failed", "cancelled"]);
const STEP_STATUS = {
  "step.started": "running", "step.task_started": "running", "step.child_started": "running",
  "step.resumed": "running", "step.progress": "running", "step.retrying": "retrying",
  "step.held": "held", "step.decided": "running", "step.completed": "completed",
  "step.failed": "failed", "step.skipped": "skipped", "step.cancelled": "cancelled",
};

/** Apply an execution.* or step.* event to `live`. */
export function applyExecutionEvent(live, type, id, data, event) {
  const current = live.executions.get(id);
  if (type.startsWith("execution.")) {
    const status = type.slice("execution.".length);
    const known = ["created", "started", "running", "completed", "failed", "cancelled", "paused", "resumed"];
    const next = { ...(current || { execution_id: id, workflow_id: data.workflow_id }), updated_at: event.time };
    if (known.includes(status)) {
      next.status = status === "created" ? "pending" : status === "started" || status === "resumed" ? "running" : status;
    }
    if (data.error) next.error = data.error;
    live.executions.set(id, next);
    return;
  }
  const step = typeof data.step === "string" ? data.step : null;
  if (!step) return;
  const steps = live.steps.get(id) || new Map();
  const previous = steps.get(step) || { attempts: 0 };
  const status = STEP_STATUS[type];
  const next = { ...previous, updated: event.time };
  if (status) next.status = status;
  if (type === "step.started") next.attempts = (previous.attempts || 0) + 1;
  if (type === "step.progress") next.progress = { progress: data.progress, total: data.total, message: data.message };
  if (data.error) next.error = data.error;
  steps.set(step, next);
  live.steps.set(id, steps);
  if (current && !FINISHED.has(current.status)) live.executions.set(id, { ...current, updated_at: event.time });
}
