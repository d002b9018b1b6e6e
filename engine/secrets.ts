/**
 * Secrets by name. Manifests name a secret (ACME_SHOP_TOKEN); the value comes
 * from the environment or from a secrets file of NAME=value lines that lives
 * outside git.
 *
 * Values never leave: every value a SecretStore hands out is remembered for
 * the life of the process, and `maskKnownSecrets` masks all of them (in every
 * form, see secret-mask.ts) wherever text leaves the server: tool texts and
 * structured content, audit rows, log lines, call history, `switchboard
 * try`. Remembering what was handed out, rather than what some manifest
 * names, means no path can use a secret its masking does not know: a value
 * is known before it can be sent anywhere, so before anything can echo it.
 * A value replaced by a reload stays known (an answer may still quote it).
 *
 * Length rule: a secret of any length is masked, also a short one (showing a
 * short secret is still showing it). A value shorter than 8 characters is
 * warned about once, by name, since masking it also hides those characters
 * in ordinary text; the server and `switchboard try` apply the same rule.
 */
import fs from 'node:fs';

import { SwitchboardError } from './errors.ts';
import { maskOf, SecretIndex, SHORT_SECRET, type SecretMask } from './secret-mask.ts';

export { maskSecrets, MASK, type SecretMask } from './secret-mask.ts';

/** Every secret value handed out in this process, indexed as it comes. */
const knownValues = new Set<string>();
const known = new SecretIndex();

function remember(value: string): void {
  if (knownValues.has(value)) return;
  knownValues.add(value);
  known.add(value);
}

/** The mask of every secret handed out so far, plus `extra` (values a caller holds that did not come from a SecretStore). */
export function knownSecretsMask(extra: readonly string[] = []): SecretMask {
  if (extra.some((value) => value && !known.has(value))) return maskOf([...knownValues, ...extra]);
  return known;
}

/** `text` with every secret value handed out so far masked, in every form. */
export const maskKnownSecrets = (text: string, extra?: readonly string[]): string => knownSecretsMask(extra).mask(text);

export interface SecretSource {
  get(name: string): string | undefined;
}

export class SecretStore implements SecretSource {
  private fileValues = new Map<string, string>();
  /** Goes up with every reload of the secrets file: what was read before may be stale. */
  version = 0;

  private readonly warned = new Set<string>();

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly file?: string,
    /** Told once per name about a value shorter than 8 characters (the name and length, never the value). */
    private readonly warn: (message: string) => void = () => undefined,
  ) {
    this.reload();
  }

  /** Re-reads the secrets file (on SIGHUP, with the manifests). */
  reload(): void {
    if (!this.file) return;
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (error) {
      throw new SwitchboardError('CONFIG_INVALID', `cannot read secrets file ${this.file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    this.fileValues = parseSecretsFile(text);
    this.version += 1;
  }

  get(name: string): string | undefined {
    const value = this.env[name] ?? this.fileValues.get(name);
    if (value) {
      remember(value);
      if (value.length < SHORT_SECRET && !this.warned.has(name)) {
        this.warned.add(name);
        this.warn(`secret ${name} has only ${value.length} character${value.length === 1 ? '' : 's'}: it is masked wherever those characters appear in tool texts, logs and the audit trail, which hides ordinary text too; use a random value of ${SHORT_SECRET} or more characters`);
      }
    }
    return value;
  }

  require(name: string): string {
    const value = this.get(name);
    if (value === undefined || value === '') {
      throw new SwitchboardError('SECRET_MISSING', `secret ${name} is not set (environment variable or secrets file)`);
    }
    return value;
  }
}

/** NAME=value lines; blank lines and # comments ignored; optional quotes around the value. */
export function parseSecretsFile(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const match = /^(?:export\s+)?([A-Z][A-Z0-9_]*)\s*=\s*(.*)$/.exec(trimmed);
    if (!match) continue;
    let value = match[2] ?? '';
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
    values.set(match[1] as string, value);
  }
  return values;
}
