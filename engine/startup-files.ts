/**
 * Files the settings name (the TLS certificate and key, the secrets file),
 * read or checked before the server opens anything, so that a wrong path or
 * permission stops the start with one sentence: which file, which setting
 * names it, what is wrong and what to do. Without this, a TLS file that
 * cannot be read surfaced as a Node stack after the database had been
 * opened, and an OpenSSL code ("PEM routines::no start line") was all a
 * certificate that is not PEM said.
 *
 * The same reader serves the certificate reload on SIGHUP, where the
 * sentence goes to the log and the certificate in force stays.
 */
import fs from 'node:fs';
import { createSecureContext } from 'node:tls';

import type { ServerSettings } from './config.ts';
import { SwitchboardError } from './errors.ts';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

const codeOf = (error: unknown): string => String((error as NodeJS.ErrnoException | null)?.code ?? 'error');

/** What to do about a file that cannot be read, by error code. */
function unreadable(file: string, what: string, setting: string, code: string): SwitchboardError {
  const message =
    code === 'ENOENT'
      ? `${what} ${file} does not exist (${code}): point ${setting} at the file`
      : code === 'EACCES' || code === 'EPERM'
        ? `cannot read ${what} ${file} (${code}): give the user that runs switchboard read access to it (for example group-readable, mode 0640), or point ${setting} at a copy it can read`
        : code === 'EISDIR'
          ? `${what} ${file} is a directory (${code}): point ${setting} at the file in it`
          : `cannot read ${what} ${file} (${code}): point ${setting} at a file this user can read`;
  return new SwitchboardError('CONFIG_INVALID', message, { details: { file, setting } });
}

/** Reads a file a setting names; a failure is a sentence naming the file, the setting and the cure. */
export function readSettingFile(file: string, what: string, setting: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw unreadable(file, what, setting, codeOf(error));
  }
}

/** OpenSSL's words for the usual mistakes, in an operator's. */
function tlsReason(error: unknown): string {
  const message = (error as Error).message ?? String(error);
  if (/key values mismatch/i.test(message)) return 'the private key does not belong to the certificate';
  if (/no start line|bad base64|PEM/i.test(message)) return `a file is not in PEM format (${message})`;
  return message;
}

/** The certificate and key of --tls-cert and --tls-key, read and checked to work together; undefined for plain HTTP. */
export function readTlsFiles(settings: Pick<ServerSettings, 'tlsCert' | 'tlsKey'>): TlsFiles | undefined {
  if (!settings.tlsCert || !settings.tlsKey) return undefined;
  const cert = readSettingFile(settings.tlsCert, 'the TLS certificate', '--tls-cert (SWITCHBOARD_TLS_CERT)');
  const key = readSettingFile(settings.tlsKey, 'the TLS private key', '--tls-key (SWITCHBOARD_TLS_KEY)');
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new SwitchboardError(
      'CONFIG_INVALID',
      `the TLS certificate ${settings.tlsCert} and key ${settings.tlsKey} cannot be used: ${tlsReason(error)}. Give --tls-cert (SWITCHBOARD_TLS_CERT) the PEM certificate chain (fullchain.pem) and --tls-key (SWITCHBOARD_TLS_KEY) its PEM private key (privkey.pem)`,
      { details: { cert: settings.tlsCert, key: settings.tlsKey } },
    );
  }
  return { cert, key };
}

/** The secrets file, if one is set, can be read (the secret store reads it right after). */
export function checkSecretsFile(file: string | undefined): void {
  if (file) readSettingFile(file, 'the secrets file', '--secrets-file (SWITCHBOARD_SECRETS_FILE)');
}
