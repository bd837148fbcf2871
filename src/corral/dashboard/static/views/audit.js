import { html } from "../lib.js";
import { Empty } from "../ui.js";

export function Audit() {
  return html`<section><h1>Audit</h1><${Empty} title="Coming">This view is being built.<//></section>`;
}
