/**
 * Secrets by name. Manifests name a secret (ACME_SHOP_TOKEN); the value comes
 * from the environment or from a secrets file of NAME=value lines that lives
 * outside git. Values are never logged: `mask` replaces every known secret
 * value in a text, for request previews, errors and audit rows.
 */
import fs from 'node:fs';

import { SwitchboardError } from './errors.ts';

export interface SecretSource {
  get(name: string): string | undefined;
}

export class SecretStore implements SecretSource {
  private fileValues = new Map<string, string>();
  /** Goes up with every reload of the secrets file: what was read before may be stale. */
  version = 0;

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly file?: string,
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
    return this.env[name] ?? this.fileValues.get(name);
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

/** Replaces each of `secrets` (values of 4+ characters) in `text` by a mask. */
export function maskSecrets(text: string, secrets: Iterable<string>): string {
  let masked = text;
  for (const secret of secrets) {
    if (secret.length >= 4) masked = masked.split(secret).join('***');
  }
  return masked;
}
