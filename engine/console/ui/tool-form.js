// @ts-check
/**
 * A form made from a tool's input schema, as tools/list publishes it: text
 * for strings, a number field for numbers (whole numbers for integers), a
 * dropdown for an enum, a checkbox for a boolean, and a JSON field for
 * anything else (an object, a list). Each field is labelled with its name,
 * says whether it is required, and carries the schema's description as its
 * help text. Reading the form gives the arguments a client would send:
 * fields left empty are left out, numbers are numbers. The server checks
 * them as it checks a voice agent's (the form only helps).
 */
import { h, uid } from './dom.js';

/**
 * The schema's main type: the first that is not null.
 * @param {any} schema
 * @returns {string | undefined}
 */
function typeOf(schema) {
  if (!schema || typeof schema !== 'object') return undefined;
  if (Array.isArray(schema.enum)) return 'enum';
  const type = Array.isArray(schema.type) ? schema.type.find((/** @type {string} */ item) => item !== 'null') : schema.type;
  if (type) return type;
  for (const key of ['anyOf', 'oneOf']) {
    if (Array.isArray(schema[key])) {
      const found = schema[key].map(typeOf).find((/** @type {string | undefined} */ item) => item && item !== 'null');
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * @typedef {{ name: string, read: () => { ok: true, value?: unknown } | { ok: false, message: string }, input: HTMLElement }} Field
 */

/**
 * @param {string} name
 * @param {any} schema
 * @param {boolean} required
 * @returns {{ element: HTMLElement, field: Field }}
 */
function fieldFor(name, schema, required) {
  const id = uid('arg');
  const helpId = `${id}-help`;
  const type = typeOf(schema);
  const help = [schema?.description, type === 'integer' ? 'A whole number.' : null, schema?.format === 'date' ? 'A date, YYYY-MM-DD.' : null].filter(Boolean).join(' ');
  const describedBy = help ? helpId : undefined;
  const label = h('label', { for: id }, name, required ? h('span', { class: 'required' }, ' (required)') : null);
  /** @type {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} */
  let input;
  /** @type {Field['read']} */
  let read;
  if (type === 'enum') {
    const options = /** @type {unknown[]} */ (schema.enum);
    input = h('select', { id, name, required, 'aria-describedby': describedBy }, required ? null : h('option', { value: '' }, '(not given)'), options.map((option, index) => h('option', { value: String(index) }, String(option))));
    if (schema.default !== undefined) input.value = String(options.indexOf(schema.default));
    const select = input;
    read = () => (select.value === '' ? { ok: true } : { ok: true, value: options[Number(select.value)] });
  } else if (type === 'number' || type === 'integer') {
    input = h('input', { id, name, type: 'number', required, step: type === 'integer' ? '1' : 'any', min: schema.minimum, max: schema.maximum, 'aria-describedby': describedBy, value: schema.default });
    const number = input;
    read = () => {
      if (number.value.trim() === '') return { ok: true };
      const value = Number(number.value);
      return Number.isFinite(value) ? { ok: true, value } : { ok: false, message: `${name} must be a number` };
    };
  } else if (type === 'boolean') {
    input = h('input', { id, name, type: 'checkbox', 'aria-describedby': describedBy, checked: schema.default === true });
    const box = input;
    read = () => ({ ok: true, value: box.checked });
    return {
      element: h('div', { class: 'field' }, h('label', { class: 'choice', for: id }, input, name), help ? h('p', { id: helpId, class: 'help' }, help) : null),
      field: { name, read, input },
    };
  } else if (type === 'string' || type === undefined) {
    input = h('input', { id, name, type: schema?.format === 'date' ? 'date' : 'text', required, maxlength: schema?.maxLength, spellcheck: 'false', autocomplete: 'off', 'aria-describedby': describedBy, value: schema?.default });
    const text = input;
    read = () => (text.value === '' ? { ok: true } : { ok: true, value: text.value });
  } else {
    input = h('textarea', { id, name, required, spellcheck: 'false', 'aria-describedby': describedBy });
    if (schema?.default !== undefined) input.value = JSON.stringify(schema.default, null, 2);
    const area = input;
    read = () => {
      if (area.value.trim() === '') return { ok: true };
      try {
        return { ok: true, value: JSON.parse(area.value) };
      } catch {
        return { ok: false, message: `${name} must be JSON (${type})` };
      }
    };
  }
  return { element: h('div', { class: 'field' }, label, input, help ? h('p', { id: helpId, class: 'help' }, help) : null), field: { name, read, input } };
}

/**
 * The fields of a tool's arguments, and how to read them.
 * @param {any} inputSchema
 */
export function argumentFields(inputSchema) {
  const properties = inputSchema && typeof inputSchema.properties === 'object' ? inputSchema.properties : {};
  const required = new Set(Array.isArray(inputSchema?.required) ? inputSchema.required : []);
  const made = Object.entries(properties).map(([name, schema]) => fieldFor(name, schema, required.has(name)));
  return {
    elements: made.map((item) => item.element),
    /** @returns {{ ok: true, args: Record<string, unknown> } | { ok: false, message: string, input: HTMLElement }} */
    read() {
      /** @type {Record<string, unknown>} */
      const args = {};
      for (const { field } of made) {
        const result = field.read();
        field.input.setAttribute('aria-invalid', String(!result.ok));
        if (!result.ok) return { ok: false, message: result.message, input: field.input };
        if (result.value !== undefined) args[field.name] = result.value;
      }
      return { ok: true, args };
    },
  };
}
