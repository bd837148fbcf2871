// The live state of routed work: tasks (from the snapshot's unfinished ones and task.* events), agents
// (from the snapshot) and nodes (from the snapshot and node.* events, which carry the whole node).
// Reducers only: live.js owns the socket and calls these with its state.

const STATE_OF = {
  "task.queued": "queued", "task.retrying": "queued", "task.assigned": "running", "task.started": "running",
  "task.progress": "running", "task.held": "held", "task.completed": "completed", "task.failed": "failed",
  "task.cancelled": "cancelled",
};
export const FINISHED_TASK = new Set(["completed", "failed", "cancelled"]);
const TASKS_KEPT = 1000; // a tab open all day must not grow without bound: the oldest finished go first

export function applyWorkSnapshot(live, snapshot) {
  if (Array.isArray(snapshot.tasks)) {
    for (const task of snapshot.tasks) if (task && typeof task.id === "string") live.tasks.set(task.id, task);
  }
  if (Array.isArray(snapshot.agents)) {
    live.agents.clear();
    for (const agent of snapshot.agents) if (agent && typeof agent.id === "string") live.agents.set(agent.id, agent);
  }
  if (Array.isArray(snapshot.nodes)) {
    live.nodes.clear();
    for (const node of snapshot.nodes) if (node && typeof node.name === "string") live.nodes.set(node.name, node);
  }
}

/** Apply a task.* or node.* event; returns true when it named a task the page has not seen whole yet. */
export function applyWorkEvent(live, type, subject, data, event) {
  if (type.startsWith("node.")) {
    if (type === "node.lost" && live.nodes.has(subject)) live.nodes.set(subject, { ...live.nodes.get(subject), alive: false });
    else if (typeof data.name === "string") live.nodes.set(data.name, data);
    return false;
  }
  if (!subject) return false;
  const current = live.tasks.get(subject);
  const next = { ...(current || { id: subject, created_at: event.time, partial: true }), updated_at: event.time };
  const state = STATE_OF[type];
  // A late event never moves a finished task back (a cancelled task's call may still answer).
  if (state && !(current && FINISHED_TASK.has(current.state) && !FINISHED_TASK.has(state))) next.state = state;
  if (typeof data.agent === "string") next.agent = data.agent;
  if (typeof data.attempt === "number") next.attempt = data.attempt;
  if (typeof data.error === "string") next.error = data.error;
  if (type === "task.progress") next.progress = { progress: data.progress, total: data.total, message: data.message };
  if (type === "task.completed") next.error = null;
  live.tasks.set(subject, next);
  if (live.tasks.size > TASKS_KEPT) forgetOldestFinished(live.tasks);
  return !current || Boolean(current.partial);
}

function forgetOldestFinished(tasks) {
  for (const [id, task] of tasks) {
    if (FINISHED_TASK.has(task.state)) {
      tasks.delete(id);
      return;
    }
  }
}
