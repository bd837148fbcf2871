import { html } from "../lib.js";
import { Empty } from "../ui.js";

export function Patterns() {
  return html`<section><h1>Patterns</h1><${Empty} title="Coming">This view is being built.<//></section>`;
}
