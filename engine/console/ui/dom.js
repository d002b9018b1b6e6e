// @ts-check
/**
 * Building the page without HTML strings: `h` makes an element from a tag,
 * its attributes and its children, and every text goes in as a text node.
 * Nothing the server sends (a manifest's description, a caller's words in a
 * lead, an API's answer) can become markup, so there is no escaping to
 * forget; and no inline script or style is ever made, as the page's
 * Content-Security-Policy demands.
 */

/**
 * @typedef {string | number | Node | null | undefined | false} Leaf
 * @typedef {Leaf | Leaf[] | (Leaf | Leaf[])[]} Child
 * @typedef {Record<string, unknown>} Props
 */

/**
 * An element. Props: `class`, `on<event>` (listeners), booleans toggle an
 * attribute, `value` sets the property, anything else is an attribute.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props | null} [props]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2).toLowerCase(), /** @type {EventListener} */ (value));
    else if (name === 'class') element.className = String(value);
    else if (name === 'value') /** @type {HTMLInputElement} */ (element).value = String(value);
    else if (typeof value === 'boolean') element.toggleAttribute(name, value);
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

/**
 * @param {Node} parent
 * @param {Child[]} children
 */
export function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, /** @type {Child[]} */ (child));
    else parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/**
 * Replaces what an element holds.
 * @param {Element} element
 * @param {...Child} children
 */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/**
 * A time as the reader's locale writes it, in a <time> with the exact value.
 * @param {string | null | undefined} iso
 */
export function time(iso) {
  if (!iso) return h('span', { class: 'empty' }, '—');
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h('span', null, iso);
  return h('time', { datetime: iso, title: iso }, date.toLocaleString());
}

/**
 * A state in words, coloured by how it is (the words carry the meaning; the colour only helps).
 * @param {string} text
 * @param {'ok' | 'bad' | 'warn' | 'neutral'} tone
 */
export const badge = (text, tone) => h('span', { class: `badge ${tone}` }, text);

/**
 * A table with a caption (read out by screen readers) and column headers.
 * @param {string} caption
 * @param {string[]} columns
 * @param {Child[][]} rows
 * @param {string} [empty] what is said when there are no rows
 */
export function table(caption, columns, rows, empty = 'None.') {
  if (!rows.length) return h('div', null, h('p', { class: 'empty' }, `${caption}: ${empty}`));
  return h(
    'table',
    null,
    h('caption', null, caption),
    h('thead', null, h('tr', null, columns.map((column) => h('th', { scope: 'col' }, column)))),
    h('tbody', null, rows.map((cells) => h('tr', null, cells.map((cell) => h('td', null, cell))))),
  );
}

/**
 * JSON as the console shows it.
 * @param {unknown} value
 */
export const json = (value) => h('pre', null, JSON.stringify(value, null, 2));

/** A fresh id for label/field pairs. */
let nextId = 0;
/** @param {string} prefix */
export const uid = (prefix) => `${prefix}-${(nextId += 1)}`;

/**
 * Runs `load` now; asked again while it runs, runs once more after it (never two at once, never a queue).
 * @param {() => Promise<void>} load
 * @returns {() => void}
 */
export function refresher(load) {
  let running = false;
  let again = false;
  const run = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await load();
      } while (again);
    } finally {
      running = false;
    }
  };
  return () => void run();
}
