/**
 * Masking of secret values in text that leaves the server: tool texts and
 * structured content, audit rows, logs, call history, `switchboard try`.
 * Pure: values in, a mask out, so a unit test can table every form a secret
 * takes.
 *
 * A secret is found in every form it can take on its way out, not only as
 * itself, because texts are shaped before they leave:
 * - escaped as JSON (`\"`, `\\`, `\/`, `\u00e9`), percent-encoded (either
 *   hex case, form-encoded spaces as `+`) or as an HTML entity, character by
 *   character, so any mix of encoders is covered;
 * - with its blanks collapsed, changed (a line break read as a space, a tab
 *   escaped as `\t`) or removed, and its leading and trailing blanks
 *   trimmed: texts are compacted and trimmed before the model sees them.
 * Letters and digits are matched as they are: no common encoder escapes them.
 *
 * Cutting never leaves part of a secret: the callers mask before they cut
 * (mask first, on the whole text, then shape). For text that arrived already
 * cut (an upstream that quoted a secret and truncated its own message), a
 * text that ends with the first PARTIAL_MIN or more characters of a secret
 * (raw, compacted, JSON-, percent- or HTML-escaped), or starts with an
 * ellipsis and its last ones, has that part masked too.
 *
 * Every length is masked, even a one-character secret: showing a short
 * secret is still showing it. SecretStore warns about short values, since
 * masking them hides ordinary text as well.
 *
 * Cost stays flat as secrets grow (a server may hold thousands, and every
 * tool result and log line is masked): each secret is indexed by four
 * letters or digits of its own, which appear as they are in every form, and
 * only the secrets whose four characters occur in a text are matched
 * against it, each with its own small pattern, compiled on first use. Cut
 * parts are looked up by the first (or last) four characters of each form.
 * A secret without four letters or digits in a row is matched everywhere.
 */

export const MASK = '***';
/** Shortest part of a secret masked at the cut edge of a text; shorter parts are too common to tell from ordinary text. */
export const PARTIAL_MIN = 4;
/** Shorter secrets are masked too, but warned about: their characters are common in ordinary text. */
export const SHORT_SECRET = 8;
/** Letters and digits a secret is indexed by. */
const ANCHOR = 4;

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
const EDGE_BLANKS = /^[\s\u0000-\u001f\u007f]+|[\s\u0000-\u001f\u007f]+$/g; // eslint-disable-line no-control-regex -- trimmed as compaction would
const ALNUM = /^[A-Za-z0-9]$/;
const ALNUM_RUNS = /[A-Za-z0-9]{4,}/g;
const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/-]/;
/** A run of blanks in a secret, in any form: raw, JSON-escaped, percent-encoded, form-encoded; possibly removed. */
const BLANKS = String.raw`(?:[\s\u0000-\u001f\u007f]|\\[nrtfb]|\\u00[01][0-9a-fA-F]|\\u0020|\\u007[fF]|%[01][0-9a-fA-F]|%20|%7[fF]|\+|&nbsp;|&#0*(?:9|1[0-3]|32);|&#[xX]0*(?:[9aAbBcCdD]|20);)*`;
const HTML_NAMED: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&(?:apos|#0*39|#[xX]0*27);' };
const CUT_AFTER = /[\s]*(?:…|\.\.\.)?[\s]*$/;
const CUT_BEFORE = /^[\s]*(?:…|\.\.\.)[\s]*/;

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
  // The character itself last: an escape starts with a character that could be one of the secret's own (\, %, &),
  // and the first alternative that fits wins, so at the end of a secret "%25" would lose its "25".
  forms.add(literal(char));
  return `(?:${[...forms].join('|')})`;
}

/** A form of a secret as plain text, with where each of the secret's characters ends in it. */
interface Form {
  text: string;
  /** Offset in `text` where each character (a blank run counting as one) starts. */
  starts: number[];
}

interface Secret {
  /** The value without leading and trailing blanks: what is matched. */
  core: string;
  /** Characters, a run of blanks as one. */
  chars: string[];
  /** Forms for cut parts, looked up by their first or last four characters. */
  forms: Form[];
  pattern?: RegExp;
}

function charsOf(core: string): string[] {
  const chars: string[] = [];
  for (const char of core) {
    if (WHITESPACE.test(char)) {
      if (!WHITESPACE.test(chars[chars.length - 1] ?? 'x')) chars.push(char);
      else chars[chars.length - 1] += char;
    } else {
      chars.push(char);
    }
  }
  return chars;
}

const html = (char: string): string => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] ?? char;
const json = (char: string): string => JSON.stringify(char).slice(1, -1);

/** The usual whole-text encoders, character by character, so that a cut part can be counted in characters of the secret. */
function formsOf(chars: readonly string[]): Form[] {
  const encoders: ((char: string, blank: boolean) => string)[] = [
    (char) => char,
    (char, blank) => (blank ? ' ' : char),
    (char) => json(char),
    (char, blank) => (blank ? ' ' : json(char)),
    (char) => encodeURIComponent(char),
    (char) => encodeURIComponent(char).replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
    (char) => new URLSearchParams({ v: char }).toString().slice(2),
    (char, blank) => (blank ? ' ' : html(char)),
  ];
  const seen = new Set<string>();
  const forms: Form[] = [];
  for (const encode of encoders) {
    let text = '';
    const starts: number[] = [];
    try {
      for (const char of chars) {
        starts.push(text.length);
        text += encode(char, WHITESPACE.test(char));
      }
    } catch {
      continue; // a lone surrogate has no percent-encoding
    }
    if (!seen.has(text)) {
      seen.add(text);
      forms.push({ text, starts });
    }
  }
  return forms;
}

/** Compiled patterns by core, shared by every mask: the known secrets and a tool's few are compiled once. */
const patterns = new Map<string, RegExp>();

function patternOf(secret: Secret): RegExp {
  if (!secret.pattern) {
    let pattern = patterns.get(secret.core);
    if (!pattern) {
      pattern = new RegExp(secret.chars.map((char) => (WHITESPACE.test(char) ? BLANKS : charPattern(char))).join(''), 'g');
      patterns.set(secret.core, pattern);
    }
    secret.pattern = pattern;
  }
  return secret.pattern;
}

const push = <K, V>(map: Map<K, V[]>, key: K, value: V): void => {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
};

/** The secrets of a mask, indexed. Secrets are only ever added: a value once handed out stays masked. */
export class SecretIndex implements SecretMask {
  private readonly secrets = new Map<string, Secret>();
  private readonly byAnchor = new Map<string, Secret[]>();
  /** Secrets without four letters or digits in a row: matched against every text. */
  private readonly everywhere: Secret[] = [];
  private readonly byHead = new Map<string, [Secret, Form][]>();
  private readonly byTail = new Map<string, [Secret, Form][]>();
  private longestForm = 0;

  get size(): number {
    return this.secrets.size;
  }

  has(value: string): boolean {
    return this.secrets.has(value.replace(EDGE_BLANKS, ''));
  }

  add(value: string): void {
    const core = value.replace(EDGE_BLANKS, '');
    if (!core || this.secrets.has(core)) return;
    const chars = charsOf(core);
    const secret: Secret = { core, chars, forms: chars.length > PARTIAL_MIN ? formsOf(chars) : [] };
    this.secrets.set(core, secret);
    // The least shared four letters or digits of the secret, so that few secrets are tried for one text.
    let anchor: string | undefined;
    for (const [run] of core.matchAll(ALNUM_RUNS)) {
      for (let start = 0; start + ANCHOR <= run.length; start++) {
        const window = run.slice(start, start + ANCHOR);
        if (anchor === undefined || (this.byAnchor.get(window)?.length ?? 0) < (this.byAnchor.get(anchor)?.length ?? 0)) anchor = window;
      }
    }
    if (anchor === undefined) this.everywhere.push(secret);
    else push(this.byAnchor, anchor, secret);
    for (const form of secret.forms) {
      push(this.byHead, form.text.slice(0, PARTIAL_MIN), [secret, form]);
      push(this.byTail, form.text.slice(-PARTIAL_MIN), [secret, form]);
      this.longestForm = Math.max(this.longestForm, form.text.length);
    }
  }

  /** The secrets that may occur whole in the text, longest first (a secret that holds another is masked whole). */
  private candidates(text: string): Secret[] {
    const found = new Set<Secret>(this.everywhere);
    if (this.byAnchor.size) {
      for (const [run] of text.matchAll(ALNUM_RUNS)) {
        for (let start = 0; start + ANCHOR <= run.length; start++) {
          for (const secret of this.byAnchor.get(run.slice(start, start + ANCHOR)) ?? []) found.add(secret);
        }
      }
    }
    return [...found].sort((a, b) => b.core.length - a.core.length);
  }

  mask(text: string): string {
    if (!this.secrets.size || !text) return text;
    let out = text;
    for (const secret of this.candidates(text)) out = out.replace(patternOf(secret), MASK);
    return this.maskCutStart(this.maskCutEnd(out));
  }

  test(text: string): boolean {
    if (!this.secrets.size || !text) return false;
    return this.candidates(text).some((secret) => {
      const pattern = patternOf(secret);
      pattern.lastIndex = 0;
      const found = pattern.test(text);
      pattern.lastIndex = 0;
      return found;
    });
  }

  maskDeep(value: unknown): unknown {
    if (typeof value === 'string') return this.mask(value);
    if (typeof value === 'number') return this.test(String(value)) ? this.mask(String(value)) : value;
    if (Array.isArray(value)) return value.map((item) => this.maskDeep(item));
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [this.mask(key), this.maskDeep(item)]));
    return value;
  }

  /** A text that ends (before an ellipsis) with the first PARTIAL_MIN or more characters of a secret: that part masked. */
  private maskCutEnd(text: string): string {
    if (!this.byHead.size) return text;
    const end = text.length - (CUT_AFTER.exec(text.slice(-64))?.[0].length ?? 0);
    for (let start = Math.max(0, end - this.longestForm); start <= end - PARTIAL_MIN; start++) {
      const forms = this.byHead.get(text.slice(start, start + PARTIAL_MIN));
      if (!forms) continue;
      const part = text.slice(start, end);
      for (const [, form] of forms) {
        if (part.length < form.text.length && form.text.startsWith(part) && form.starts.filter((offset) => offset < part.length).length >= PARTIAL_MIN) {
          return `${text.slice(0, start)}${MASK}${text.slice(end)}`;
        }
      }
    }
    return text;
  }

  /** A text that starts with an ellipsis and the last PARTIAL_MIN or more characters of a secret: that part masked. */
  private maskCutStart(text: string): string {
    if (!this.byTail.size) return text;
    const cut = CUT_BEFORE.exec(text)?.[0].length;
    if (cut === undefined) return text;
    for (let end = Math.min(text.length, cut + this.longestForm); end >= cut + PARTIAL_MIN; end--) {
      const forms = this.byTail.get(text.slice(end - PARTIAL_MIN, end));
      if (!forms) continue;
      const part = text.slice(cut, end);
      for (const [, form] of forms) {
        const from = form.text.length - part.length;
        if (from > 0 && form.text.endsWith(part) && form.starts.filter((offset) => offset >= from).length >= PARTIAL_MIN) {
          return `${text.slice(0, cut)}${MASK}${text.slice(end)}`;
        }
      }
    }
    return text;
  }
}

export function compileMask(values: Iterable<string>): SecretIndex {
  const index = new SecretIndex();
  for (const value of values) index.add(value);
  return index;
}

/** Masks of recent value sets: a tool's few secrets are indexed once, not on every call. */
const recent = new Map<string, SecretIndex>();
const RECENT_MAX = 64;

/** The mask of these values, from a small cache. */
export function maskOf(values: Iterable<string>): SecretMask {
  const list = [...new Set(values)].filter(Boolean).sort();
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
