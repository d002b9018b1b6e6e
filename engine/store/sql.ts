/**
 * SQL as data: a tagged template keeps the text and the values apart, so a
 * value is always a bound parameter and never spliced into the text, and
 * the same statement runs on SQLite (`?` placeholders) and PostgreSQL (`$1`).
 *
 *   sql`SELECT * FROM calls WHERE account_id = ${account} AND state IN ${list(states)}`
 *
 * Fragments nest (a `Sql` value is inlined with its own values), `list`
 * makes `(?, ?, ?)`, `raw` inserts trusted text (an identifier chosen by
 * the code, never input) and `dialect` picks text per engine for the few
 * statements the two cannot share. Statements are written in the subset
 * both engines speak: ON CONFLICT, RETURNING, coalesce, CASE; times are
 * integers (ms since epoch), booleans 0/1, JSON is text.
 */

export type Dialect = 'sqlite' | 'postgres';

export interface Sql {
  readonly parts: readonly (string | Value | Sql | DialectChoice)[];
}

type Value = { readonly value: unknown };
type DialectChoice = { readonly choice: Readonly<Record<Dialect, Sql>> };

const isSql = (part: unknown): part is Sql => typeof part === 'object' && part !== null && 'parts' in part;

export function sql(strings: TemplateStringsArray, ...values: unknown[]): Sql {
  const parts: Sql['parts'][number][] = [];
  strings.forEach((text, index) => {
    if (text) parts.push(text);
    if (index < values.length) {
      const value = values[index];
      parts.push(isSql(value) ? value : { value });
    }
  });
  return { parts };
}

/** Trusted text (a table or column name chosen by the code), never a value from outside. */
export const raw = (text: string): Sql => ({ parts: [text] });

/** `(?, ?, …)` for IN; an empty list matches nothing. */
export function list(values: readonly unknown[]): Sql {
  if (values.length === 0) return raw('(NULL)');
  const parts: Sql['parts'][number][] = ['('];
  values.forEach((value, index) => {
    if (index) parts.push(', ');
    parts.push({ value });
  });
  parts.push(')');
  return { parts };
}

/** Fragments joined by a separator (", ", " AND "). */
export function join(fragments: readonly Sql[], separator: string): Sql {
  const parts: Sql['parts'][number][] = [];
  fragments.forEach((fragment, index) => {
    if (index) parts.push(separator);
    parts.push(fragment);
  });
  return { parts };
}

/** Text per engine, for what the two cannot share (sequences, pragmas, upsert of a reserved word). */
export const dialect = (choice: Record<Dialect, Sql>): Sql => ({ parts: [{ choice }] });

/** Booleans become 0/1 and undefined null, so both engines store the same thing. */
function bindable(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

/** The statement's text with the engine's placeholders, and its values in order. */
export function render(query: Sql, target: Dialect): { text: string; values: unknown[] } {
  let text = '';
  const values: unknown[] = [];
  const walk = (node: Sql): void => {
    for (const part of node.parts) {
      if (typeof part === 'string') text += part;
      else if (isSql(part)) walk(part);
      else if ('choice' in part) walk(part.choice[target]);
      else {
        values.push(bindable(part.value));
        text += target === 'postgres' ? `$${values.length}` : '?';
      }
    }
  };
  walk(query);
  return { text, values };
}

/**
 * Appended to a SELECT inside a transaction whose decision depends on the
 * rows read: PostgreSQL locks them until the commit; SQLite needs nothing,
 * since its write worker runs one transaction at a time.
 */
export const forUpdate: Sql = dialect({ sqlite: raw(''), postgres: raw(' FOR UPDATE') });
