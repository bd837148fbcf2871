import { html } from "../lib.js";
import { Empty } from "../ui.js";

export function Workflows() {
  return html`<section><h1>Workflows</h1><${Empty} title="Coming">This view is being built.<//></section>`;
}
export function Executions() {
  return html`<section><h1>Executions</h1><${Empty} title="Coming">This view is being built.<//></section>`;
}
export function ExecutionPage() {
  return html`<section><h1>Execution</h1><${Empty} title="Coming">This view is being built.<//></section>`;
}
