// A form generated from a tool's JSON Schema (inputSchema): objects, arrays, enums, anyOf/oneOf and $ref.
// Anything it cannot draw is a JSON text box; the whole form can also be edited as raw JSON. The hub
// checks the arguments again, and its 422 names the field.

import { html, useState } from "./lib.js";

export function resolve(schema, root, depth = 0) {
  if (!schema || typeof schema !== "object" || depth > 20) return schema || {};
  if (typeof schema.$ref === "string" && schema.$ref.startsWith("#/")) {
    let target = root;
    for (const part of schema.$ref.slice(2).split("/")) target = target && target[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    const { $ref, ...rest } = schema;
    return resolve({ ...(target || {}), ...rest }, root, depth + 1);
  }
  return schema;
}

function typeOf(schema) {
  if (Array.isArray(schema.type)) return schema.type.find((t) => t !== "null") || "null";
  if (schema.type) return schema.type;
  if (schema.properties) return "object";
  if (schema.items) return "array";
  if (Array.isArray(schema.enum)) return "enum";
  return null;
}

/** The starting value of a schema: its default, else an empty value of its type (undefined when optional). */
export function initial(schema, root) {
  const s = resolve(schema, root);
  if (s.default !== undefined) return s.default;
  if (s.const !== undefined) return s.const;
  const type = typeOf(s);
  if (type === "object") {
    const value = {};
    for (const [name, sub] of Object.entries(s.properties || {})) {
      if ((s.required || []).includes(name)) value[name] = initial(sub, root);
    }
    return value;
  }
  if (type === "array") return [];
  if (type === "boolean") return false;
  // A select shows its first choice: the value is that choice, not nothing.
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  return undefined;
}

export function SchemaForm({ schema, value, onChange, idPrefix = "arg" }) {
  const root = schema || {};
  return html`<div class="form-grid" data-schema-form>
    <${Field} schema=${root} root=${root} value=${value} onChange=${onChange} path=${idPrefix} label=${null} required=${true} />
  </div>`;
}

function Field({ schema, root, value, onChange, path, label, required }) {
  const s = resolve(schema, root);
  const description = s.description ? html`<small class="muted">${s.description}</small>` : null;
  const title = label === null ? null : `${s.title || label}${required ? " *" : ""}`;
  const choices = s.anyOf || s.oneOf;
  if (Array.isArray(choices)) {
    const options = choices.map((choice) => resolve(choice, root));
    const nonNull = options.filter((o) => o.type !== "null");
    if (nonNull.length === 1) {
      return html`<${Field} schema=${{ ...nonNull[0], title: s.title || nonNull[0].title, description: s.description }}
        root=${root} value=${value} onChange=${onChange} path=${path} label=${label} required=${required} />`;
    }
    return html`<${Choice} options=${options} root=${root} value=${value} onChange=${onChange} path=${path}
      title=${title} description=${description} />`;
  }
  const type = Array.isArray(s.enum) ? "enum" : typeOf(s);
  switch (type) {
    case "object": {
      const properties = Object.entries(s.properties || {});
      if (properties.length === 0) return html`<${JsonField} ...${{ value, onChange, path, title, description }} />`;
      const current = value && typeof value === "object" && !Array.isArray(value) ? value : {};
      const body = properties.map(([name, sub]) => html`<${Field} key=${name} schema=${sub} root=${root}
        value=${current[name]} path=${`${path}.${name}`} label=${name} required=${(s.required || []).includes(name)}
        onChange=${(v) => { const next = { ...current }; if (v === undefined) delete next[name]; else next[name] = v; onChange(next); }} />`);
      return title === null ? html`<div class="form-grid">${body}</div>`
        : html`<fieldset data-field=${path}><legend>${title}</legend>${description}${body}</fieldset>`;
    }
    case "array": {
      const items = Array.isArray(value) ? value : [];
      const itemSchema = s.items && typeof s.items === "object" ? s.items : {};
      return html`<fieldset data-field=${path}><legend>${title || "items"}</legend>${description}
        ${items.map((item, i) => html`<div key=${i} class="array-item">
          <${Field} schema=${itemSchema} root=${root} value=${item} path=${`${path}.${i}`} label=${`#${i + 1}`} required=${true}
            onChange=${(v) => { const next = items.slice(); next[i] = v; onChange(next); }} />
          <button type="button" class="link" aria-label=${`Remove item ${i + 1}`}
            onClick=${() => onChange(items.filter((_, j) => j !== i))}>Remove</button></div>`)}
        <button type="button" onClick=${() => onChange([...items, initial(itemSchema, root)])}>Add item</button>
      </fieldset>`;
    }
    case "enum":
      return html`<label data-field=${path}>${title}
        <select value=${value === undefined ? "" : JSON.stringify(value)}
          onChange=${(e) => onChange(e.target.value === "" ? undefined : JSON.parse(e.target.value))}>
          ${required ? null : html`<option value="">—</option>`}
          ${s.enum.map((option) => html`<option key=${JSON.stringify(option)} value=${JSON.stringify(option)}>${String(option)}</option>`)}
        </select>${description}</label>`;
    case "boolean":
      return html`<label data-field=${path} class="check"><input type="checkbox" checked=${Boolean(value)}
        onChange=${(e) => onChange(e.target.checked)} /> ${title}${description}</label>`;
    case "integer":
    case "number":
      return html`<label data-field=${path}>${title}
        <input type="number" step=${type === "integer" ? "1" : "any"} value=${value ?? ""} required=${required}
          min=${s.minimum} max=${s.maximum}
          onInput=${(e) => onChange(e.target.value === "" ? undefined : Number(e.target.value))} />${description}</label>`;
    case "string":
      return html`<label data-field=${path}>${title}
        ${(s.maxLength ?? 0) > 200 || s.format === "textarea"
          ? html`<textarea value=${value ?? ""} required=${required} onInput=${(e) => onChange(e.target.value)} />`
          : html`<input type="text" value=${value ?? ""} required=${required}
              onInput=${(e) => onChange(e.target.value === "" && !required ? undefined : e.target.value)} />`}
        ${description}</label>`;
    default:
      return html`<${JsonField} ...${{ value, onChange, path, title, description }} />`;
  }
}

/** Which of `options` a value already given (a replayed call) fits, by its JSON type; else the first. */
function fitting(options, value, root) {
  if (value === undefined) return 0;
  const kind = value === null ? "null" : Array.isArray(value) ? "array" : Number.isInteger(value) ? "integer" : typeof value;
  const found = options.findIndex((option) => {
    const type = typeOf(resolve(option, root));
    return type === kind || (type === "number" && kind === "integer") || (type === "enum" && option.enum.includes(value));
  });
  return Math.max(0, found);
}

function Choice({ options, root, value, onChange, path, title, description }) {
  const [picked, setPicked] = useState(() => fitting(options, value, root));
  const label = (o, i) => o.title || o.type || `option ${i + 1}`;
  return html`<fieldset data-field=${path}><legend>${title || "value"}</legend>${description}
    <label>Kind <select value=${String(picked)} onChange=${(e) => { const i = Number(e.target.value); setPicked(i); onChange(initial(options[i], root)); }}>
      ${options.map((o, i) => html`<option key=${i} value=${String(i)}>${label(o, i)}</option>`)}</select></label>
    ${options[picked] && options[picked].type !== "null"
      ? html`<${Field} schema=${options[picked]} root=${root} value=${value} onChange=${onChange} path=${`${path}.${picked}`}
          label=${label(options[picked], picked)} required=${true} />` : null}
  </fieldset>`;
}

function JsonField({ value, onChange, path, title, description }) {
  const [textValue, setText] = useState(value === undefined ? "" : JSON.stringify(value, null, 2));
  const [error, setError] = useState(null);
  return html`<label data-field=${path}>${title || "value"} (JSON)
    <textarea rows="3" value=${textValue} aria-invalid=${error ? "true" : undefined} onInput=${(e) => {
      setText(e.target.value);
      if (e.target.value.trim() === "") { setError(null); onChange(undefined); return; }
      try { onChange(JSON.parse(e.target.value)); setError(null); } catch (err) { setError(err.message); }
    }} />${error ? html`<small class="error-note">${error}</small>` : description}</label>`;
}
