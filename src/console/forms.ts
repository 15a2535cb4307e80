// Form pieces with their labels and error slots: every input has a <label>, and an element beside it
// where the script writes the API's error for that field (linked by aria-describedby).
import { html, Html } from '../http/pages.js';

export interface FieldSpec {
  name: string;
  label: string;
  type?: string;
  autocomplete?: string;
  required?: boolean;
  value?: string;
  hint?: string;
  minlength?: number;
}

export function field(form: string, f: FieldSpec): Html {
  const id = `${form}-${f.name}`;
  const hint = f.hint ? html`<p class="hint" id="${id}-hint">${f.hint}</p>` : html``;
  const described = f.hint ? `${id}-error ${id}-hint` : `${id}-error`;
  const extra = new Html([
    f.autocomplete ? html` autocomplete="${f.autocomplete}"` : html``,
    f.required ? html` required` : html``,
    f.value !== undefined ? html` value="${f.value}"` : html``,
    f.minlength !== undefined ? html` minlength="${f.minlength}"` : html``,
  ].map((h) => h.text).join(''));
  return html`<div class="field"><label for="${id}">${f.label}</label>
<input id="${id}" name="${f.name}" type="${f.type ?? 'text'}" aria-describedby="${described}"${extra}>
${hint}<p class="error" id="${id}-error" data-error-for="${f.name}"></p></div>`;
}

export function select(form: string, name: string, label: string, options: Array<[string, string]>): Html {
  const id = `${form}-${name}`;
  const opts = new Html(options.map(([v, text]) => html`<option value="${v}">${text}</option>`.text).join(''));
  return html`<div class="field"><label for="${id}">${label}</label>
<select id="${id}" name="${name}" aria-describedby="${id}-error">${opts}</select>
<p class="error" id="${id}-error" data-error-for="${name}"></p></div>`;
}

/** A form the script submits through the API; `action` is the API route a script-less post reaches. */
export function form(id: string, label: string, fields: Html[], submit: string, attrs: { action?: string; method?: string } = {}): Html {
  const action = attrs.action ? html` action="${attrs.action}"` : html``;
  return html`<form id="${id}" method="${attrs.method ?? 'post'}"${action} aria-label="${label}" novalidate>
${new Html(fields.map((f) => f.text).join('\n'))}
<p class="error form-error" data-error-for="" aria-live="assertive"></p>
<div class="actions"><button type="submit">${submit}</button></div>
</form>`;
}
