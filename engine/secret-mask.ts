/**
 * Masking of secret values in text that leaves the server: tool texts and
 * structured content, audit rows, logs, call history, `switchboard try`.
 * Pure: a set of values in, a compiled mask out, so a unit test can table
 * every form a secret takes.
 *
 * A secret is found in every form it can take on its way out, not only as
 * itself, because texts are shaped before they leave:
 * - escaped as JSON (`\"`, `\\`, `\/`, `\u00e9`), percent-encoded (either
 *   hex case, form-encoded spaces as `+`) or as an HTML entity, character by
 *   character, so any mix of encoders is covered;
 * - with its whitespace collapsed, changed (a line break read as a space, a
 *   tab escaped as `\t`) or removed, and its leading and trailing blanks
 *   trimmed: texts are compacted and trimmed before the model sees them.
 * Letters and digits are matched as they are: no common encoder escapes them.
 *
 * Cutting never leaves part of a secret: the callers mask before they cut
 * (mask first, on the whole text, then shape). For text that arrived already
 * cut (an upstream that quoted a secret and truncated its own message), a
 * text that ends with the first PARTIAL_MIN or more characters of a secret,
 * or starts with an ellipsis and its last ones, has that part masked too.
 *
 * Every length is masked, even a one-character secret: showing a short
 * secret is still showing it. SecretStore warns about short values, since
 * masking them hides ordinary text as well.
 */

export const MASK = '***';
/** Shortest part of a secret masked at the cut edge of a text; shorter parts are too common to tell from ordinary text. */
export const PARTIAL_MIN = 4;
/** Shorter secrets are masked too, but warned about: their characters are common in ordinary text. */
export const SHORT_SECRET = 8;

export interface SecretMask {
  /** How many distinct secrets the mask knows. */
  readonly size: number;
  /** The text with every secret (and a cut part of one at its edges) replaced by ***. */
  mask(text: string): string;
  /** Whether the text holds a whole secret in any of its forms. */
  test(text: string): boolean;
  /** A copy of a JSON-like value with every string, key and number that holds a secret masked. */
  maskDeep(value: unknown): unknown;
}

const WHITESPACE = /[\s\u0000-\u001f\u007f]/; // eslint-disable-line no-control-regex -- control characters count as blanks, as compaction treats them
const ALNUM = /^[A-Za-z0-9]$/;
const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/-]/;
/** A run of blanks in a secret, in any form: raw, JSON-escaped, percent-encoded, form-encoded; possibly removed. */
const BLANKS = String.raw`(?:[\s\u0000-\u001f\u007f]|\\[nrtfb]|\\u00[01][0-9a-fA-F]|\\u0020|\\u007[fF]|%[01][0-9a-fA-F]|%20|%7[fF]|\+|&nbsp;|&#0*(?:9|1[0-3]|32);|&#[xX]0*(?:[9aAbBcCdD]|20);)*`;
const HTML_NAMED: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&(?:apos|#0*39|#[xX]0*27);' };
const CUT_AFTER = String.raw`(?=\s*(?:…|\.\.\.)?\s*$)`;
const CUT_BEFORE = String.raw`^(\s*(?:…|\.\.\.)\s*)`;

/** Hex digits matching either case. */
function hexPattern(value: number, width: number): string {
  return [...value.toString(16).toUpperCase().padStart(width, '0')].map((digit) => (/[A-F]/.test(digit) ? `[${digit}${digit.toLowerCase()}]` : digit)).join('');
}

function literal(char: string): string {
  if (char.length === 1 && char.charCodeAt(0) < 0x80) return REGEX_SPECIAL.test(char) ? `\\${char}` : char;
  return [...Array(char.length).keys()].map((index) => `\\u${char.charCodeAt(index).toString(16).padStart(4, '0')}`).join('');
}

/** Every form one character (a code point) of a secret may take in a text. */
function charPattern(char: string): string {
  if (ALNUM.test(char)) return char;
  const forms = new Set<string>();
  forms.add([...Buffer.from(char, 'utf8')].map((byte) => `%${hexPattern(byte, 2)}`).join(''));
  forms.add([...Array(char.length).keys()].map((index) => String.raw`\\u${hexPattern(char.charCodeAt(index), 4)}`).join(''));
  if (char === '"' || char === '\\' || char === '/') forms.add(`\\\\${literal(char)}`);
  const named = HTML_NAMED[char];
  if (named) forms.add(named);
  const code = char.codePointAt(0) as number;
  forms.add(`&#0*${code};`);
  forms.add(`&#[xX]0*${hexPattern(code, 1)};`);
  // The character itself last: an escape starts with a character that could be one of the secret's own (\\, %, &),
  // and the first alternative that fits wins, so at the end of a secret "%25" would lose its "25".
  forms.add(literal(char));
  return `(?:${[...forms].join('|')})`;
}

/** The secret as a list of patterns, one per character, blanks runs as one; leading and trailing blanks dropped. */
function units(secret: string): string[] {
  const out: string[] = [];
  let blank = false;
  for (const char of secret.trim().replace(/^[\u0000-\u001f\u007f]+|[\u0000-\u001f\u007f]+$/g, '')) { // eslint-disable-line no-control-regex -- trimmed as compaction would
    if (WHITESPACE.test(char)) {
      blank = true;
      continue;
    }
    if (blank && out.length) out.push(BLANKS);
    blank = false;
    out.push(charPattern(char));
  }
  return out;
}

/** A prefix of at least `min` units: u0 u1 … u(min-1) (?:u(min) (?:…)?)?, never the whole. */
function prefixPattern(parts: readonly string[], min: number): string {
  let tail = '';
  for (let index = parts.length - 2; index >= min; index--) tail = `(?:${parts[index]}${tail})?`;
  return parts.slice(0, min).join('') + tail;
}

/** A suffix of at least `min` units, never the whole. */
function suffixPattern(parts: readonly string[], min: number): string {
  let head = '';
  for (let index = 1; index < parts.length - min; index++) head = `(?:${head}${parts[index]})?`;
  return head + parts.slice(parts.length - min).join('');
}

const IDENTITY: SecretMask = { size: 0, mask: (text) => text, test: () => false, maskDeep: (value) => value };

export function compileMask(values: Iterable<string>): SecretMask {
  const secrets = [...new Set(values)].map(units).filter((parts) => parts.length > 0);
  if (!secrets.length) return IDENTITY;
  // Longest first, so a secret that contains another is masked whole.
  secrets.sort((a, b) => b.length - a.length);
  const whole = new RegExp(secrets.map((parts) => parts.join('')).join('|'), 'g');
  const partial = secrets.filter((parts) => parts.length > PARTIAL_MIN);
  const endCut = partial.length ? new RegExp(`(?:${partial.map((parts) => prefixPattern(parts, PARTIAL_MIN)).join('|')})${CUT_AFTER}`) : undefined;
  const startCut = partial.length ? new RegExp(`${CUT_BEFORE}(?:${partial.map((parts) => suffixPattern(parts, PARTIAL_MIN)).join('|')})`) : undefined;

  const mask = (text: string): string => {
    let out = text.replace(whole, MASK);
    if (endCut) out = out.replace(endCut, MASK);
    if (startCut) out = out.replace(startCut, `$1${MASK}`);
    return out;
  };
  const test = (text: string): boolean => {
    whole.lastIndex = 0;
    const found = whole.test(text);
    whole.lastIndex = 0;
    return found;
  };
  const maskDeep = (value: unknown): unknown => {
    if (typeof value === 'string') return mask(value);
    if (typeof value === 'number') return test(String(value)) ? mask(String(value)) : value;
    if (Array.isArray(value)) return value.map(maskDeep);
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [mask(key), maskDeep(item)]));
    return value;
  };
  return { size: secrets.length, mask, test, maskDeep };
}

/** Compiled masks of recent value sets: a tool's few secrets are compiled once, not on every call. */
const recent = new Map<string, SecretMask>();
const RECENT_MAX = 64;

/** The mask of these values, from a small cache. */
export function maskOf(values: Iterable<string>): SecretMask {
  const list = [...new Set(values)].filter(Boolean).sort();
  if (!list.length) return IDENTITY;
  const key = list.join('\u0000');
  let compiled = recent.get(key);
  if (compiled) {
    recent.delete(key);
  } else {
    compiled = compileMask(list);
    if (recent.size >= RECENT_MAX) recent.delete(recent.keys().next().value as string);
  }
  recent.set(key, compiled);
  return compiled;
}

/** Replaces every one of `secrets`, in every form, in `text` by ***. */
export function maskSecrets(text: string, secrets: Iterable<string>): string {
  return maskOf(secrets).mask(text);
}
