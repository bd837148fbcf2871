import { html } from "../lib.js";
import { Empty } from "../ui.js";

export function Tools() {
  return html`<section><h1>Tools</h1><${Empty} title="Coming">This view is being built.<//></section>`;
}
