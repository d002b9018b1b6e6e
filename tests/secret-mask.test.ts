/**
 * The masking core (engine/secret-mask.ts) on its own: every form a secret
 * takes on its way out is masked, as a table and as a property over random
 * secrets (blanks, quotes, percent signs, backslashes, non-Latin letters) in
 * random encodings, and a secret that arrives already cut is masked at the
 * cut. The end-to-end tests (secret-leaks.test.ts) prove the order: mask
 * first, then shape.
 */
import { describe, expect, it } from 'vitest';

import { Writable } from 'node:stream';

import { createLogger } from '../engine/logging.ts';
import { compileMask, MASK, maskSecrets, PARTIAL_MIN } from '../engine/secret-mask.ts';
import { maskKnownSecrets, SecretStore } from '../engine/secrets.ts';
import { random, randomSecret } from './helpers/random.ts';

const SECRET = 'odd/secret+value=1&"x" y\tz';

/** Forms an encoder may give a secret. */
const encoders: Record<string, (secret: string) => string> = {
  raw: (secret) => secret,
  json: (secret) => JSON.stringify(secret).slice(1, -1),
  jsonAscii: (secret) => JSON.stringify(secret).slice(1, -1).replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`),
  jsonSlashes: (secret) => JSON.stringify(secret).slice(1, -1).replace(/\//g, '\\/'),
  uri: encodeURIComponent,
  uriLowerHex: (secret) => encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
  form: (secret) => new URLSearchParams({ v: secret }).toString().slice(2),
  html: (secret) => secret.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;'),
  compacted: (secret) => secret.replace(/\s+/g, ' '),
  respaced: (secret) => secret.replace(/\s+/g, '\n  '),
  unspaced: (secret) => secret.replace(/\s+/g, ''),
  compactedJson: (secret) => JSON.stringify(secret.replace(/\s+/g, ' ')).slice(1, -1),
};

describe('the mask', () => {
  it.each(Object.entries(encoders))('masks the secret written %s', (_name, encode) => {
    expect(maskSecrets(`before ${encode(SECRET)} after`, [SECRET])).toBe(`before ${MASK} after`);
  });

  it('masks a secret whose characters each come from another encoder', () => {
    const mixed = 'odd\\/secret%2Bvalue&#61;1&amp;\\"x&quot; y\\tz';
    expect(maskSecrets(`[${mixed}]`, [SECRET])).toBe(`[${MASK}]`);
  });

  it('masks every length, also a one-character secret, and masks a secret that holds another whole', () => {
    expect(maskSecrets('a-b-a', ['a'])).toBe(`${MASK}-b-${MASK}`);
    expect(maskSecrets('key: abcdefgh12345678', ['abcdefgh', 'abcdefgh12345678'])).toBe(`key: ${MASK}`);
    expect(maskSecrets('nothing here', [])).toBe('nothing here');
    expect(maskSecrets('blank secrets mask nothing', ['   ', ''])).toBe('blank secrets mask nothing');
  });

  it('masks the part of a secret at the cut edge of a text, at least PARTIAL_MIN characters of it', () => {
    const secret = 'Zq8-Xv2-Lp5-Rt9';
    for (let keep = PARTIAL_MIN; keep < secret.length; keep++) {
      expect(maskSecrets(`the key is ${secret.slice(0, keep)}`, [secret])).toBe(`the key is ${MASK}`);
      expect(maskSecrets(`the key is ${secret.slice(0, keep)}…`, [secret])).toBe(`the key is ${MASK}…`);
      expect(maskSecrets(`…${secret.slice(secret.length - keep)} was the key`, [secret])).toBe(`…${MASK} was the key`);
    }
    // Inside a text a few characters are no part of anything: ordinary text stays.
    expect(maskSecrets('Zq8- is a model number', [secret])).toBe('Zq8- is a model number');
    expect(maskSecrets('ends in Zq8', [secret])).toBe('ends in Zq8');
  });

  it('masks values deep in JSON data, keys and numbers included', () => {
    const mask = compileMask(['4711-0815', '98765432']);
    expect(mask.maskDeep({ a: ['x 4711-0815 y'], '4711-0815': 1, pin: 98765432, n: 5 })).toEqual({ a: [`x ${MASK} y`], [MASK]: 1, pin: MASK, n: 5 });
    expect(mask.test('has 4711%2D0815')).toBe(true);
    expect(mask.test('has 4711')).toBe(false);
  });
});

describe('many secrets', () => {
  it('finds each of 3,000 secrets, also those that share their first letters or have no four letters or digits in a row', () => {
    const rng = random(3000);
    const secrets = [...Array.from({ length: 2990 }, (_, index) => (index % 3 ? randomSecret(rng) : `AKIA${randomSecret(rng, 16)}`)), '%&/ "!', '+-=+-=', 'é€ €é'];
    const mask = compileMask(secrets);
    expect(mask.size).toBe(new Set(secrets.map((secret) => secret.trim())).size);
    for (const secret of [...secrets.slice(0, 50), ...secrets.slice(-3)]) {
      expect(mask.mask(`a ${encoders.json!(secret)} b`), JSON.stringify(secret)).toBe(`a ${MASK} b`);
      expect(mask.mask(`a ${encodeURIComponent(secret)} b`), JSON.stringify(secret)).toBe(`a ${MASK} b`);
    }
    expect(mask.mask('nothing secret here, AKIA alone is no key')).toBe('nothing secret here, AKIA alone is no key');
  });
});

describe('random secrets in random encodings', () => {
  const rng = random(20260515);
  const secrets = Array.from({ length: 300 }, () => randomSecret(rng));
  /** Filler is made of characters no secret holds, so whatever of a secret survives would show. */
  const filler = (length: number) => Array.from({ length }, () => rng.pick([...'abcdefghijklmnopqrstuvwxyz,. '])).join('');
  const names = Object.keys(encoders);

  it('masks each secret whole, wherever it sits and however it is encoded', () => {
    for (const secret of secrets) {
      for (const name of [rng.pick(names), rng.pick(names), 'raw']) {
        const [before, after] = [filler(rng.int(40)).trimEnd(), filler(rng.int(40)).trimStart()];
        const text = `${before}|${encoders[name]!(secret)}|${after}`;
        expect(maskSecrets(text, [secret]), `${JSON.stringify(secret)} ${name}`).toBe(`${before}|${MASK}|${after}`);
      }
    }
  });

  it('masks each secret written character by character by different encoders', () => {
    for (const secret of secrets) {
      const mixed = [...secret].map((char) => (/\s/.test(char) ? rng.pick([' ', '\n', '\\t', '%20', '+', '']) : encoders[rng.pick(['raw', 'json', 'uri', 'uriLowerHex', 'html', 'jsonAscii'])]!(char))).join('');
      expect(maskSecrets(`<${mixed}>`, [secret]), `${JSON.stringify(secret)} as ${JSON.stringify(mixed)}`).toBe(`<${MASK}>`);
    }
  });

  it('leaves no part of a secret that arrived cut, at any cut position', () => {
    for (const secret of secrets.slice(0, 100)) {
      const chars = [...secret];
      // Cut after at least PARTIAL_MIN characters that are not blanks (a run of blanks is one place in a secret).
      const solid = chars.flatMap((char, index) => (/\s/.test(char) ? [] : [index + 1]));
      const cut = rng.pick(solid.slice(PARTIAL_MIN - 1));
      const head = chars.slice(0, cut).join('');
      const before = filler(rng.int(30)).trimEnd();
      expect(maskSecrets(`${before} ${head}…`, [secret]), `${JSON.stringify(secret)} cut at ${cut}`).toMatch(new RegExp(`^${before} (?:\\*\\*\\*…|\\*\\*\\*)$`));
    }
  });
});

describe('secrets handed out by a SecretStore', () => {
  it('are masked in every log line, which stays one JSON object, and wherever maskKnownSecrets is used', () => {
    const token = '4711 "quoted" 0815';
    const warnings: string[] = [];
    const store = new SecretStore({ LOG_TEST_TOKEN: token, LOG_TEST_PIN: '98' }, undefined, (message) => warnings.push(message));
    expect(maskKnownSecrets(`before ${token}`)).toBe(`before ${token}`);
    expect(store.get('LOG_TEST_TOKEN')).toBe(token);
    store.get('LOG_TEST_PIN');
    store.get('LOG_TEST_PIN');
    expect(warnings).toEqual([expect.stringMatching(/^secret LOG_TEST_PIN has only 2 characters: it is masked wherever/)]);
    expect(maskKnownSecrets(`before ${encodeURIComponent(token)}`)).toBe(`before ${MASK}`);

    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const log = createLogger({ destination });
    log.info({ event: 'x', detail: { url: `https://api.example.com/?k=${encodeURIComponent(token)}`, count: 98 } }, `the API said ${token}`);
    log.error({ err: new Error(`failed with ${token}`) }, 'boom');
    expect(lines).toHaveLength(2);
    const [info, error] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    // The two-digit secret is a number here: masked as well, and the line is still JSON.
    expect(info).toMatchObject({ msg: `the API said ${MASK}`, detail: { url: `https://api.example.com/?k=${MASK}`, count: MASK } });
    expect((error as { err: { message: string; stack: string } }).err.message).toBe(`failed with ${MASK}`);
    expect(lines.join('\n')).not.toContain('4711');
  });
});
