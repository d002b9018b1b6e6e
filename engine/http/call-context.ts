/**
 * Authentication and per-call context from request headers.
 *
 * The seed names the headers with underscores (account_id, persona_id,
 * call_id, caller_id_number). nginx and many proxies drop headers with
 * underscores by default, so each is also read as `account-id` and
 * `x-account-id`. Names that disagree are refused, never resolved by which
 * one is read first: a proxy or a platform that adds one of them must not
 * silently decide which account a call belongs to. The API key comes from
 * `X-API-Key`, or from `Authorization: Bearer …` for platforms that can only
 * send a bearer token.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

import { roleAllows, type ApiKeyRecord, type ApiKeyStore, type KeyRole } from '../auth/api-keys.ts';
import type { AuthFailureLimiter } from './auth-failures.ts';
import { SwitchboardError } from '../errors.ts';
import type { Snapshot } from '../manifests/snapshot.ts';
import { findPersona } from '../manifests/snapshot.ts';
import { toE164 } from '../phone.ts';
import type { CallContext } from '../vocabulary/call-context.ts';

export type ContextHeader = 'account_id' | 'persona_id' | 'call_id' | 'caller_id_number';

const aliasesOf = (name: ContextHeader): string[] => {
  const hyphenated = name.replace(/_/g, '-');
  return [name, hyphenated, `x-${hyphenated}`, `x_${name}`];
};
const ALIASES: Record<ContextHeader, string[]> = {
  account_id: aliasesOf('account_id'),
  persona_id: aliasesOf('persona_id'),
  call_id: aliasesOf('call_id'),
  caller_id_number: aliasesOf('caller_id_number'),
};

const FORMATS: Record<ContextHeader, { pattern: RegExp; hint: string }> = {
  account_id: { pattern: /^[A-Za-z0-9_.-]{1,64}$/, hint: '1-64 letters, digits, "_", "." or "-"' },
  persona_id: { pattern: /^[A-Za-z0-9_.-]{1,64}$/, hint: '1-64 letters, digits, "_", "." or "-"' },
  call_id: { pattern: /^[\x21-\x7e]{1,256}$/, hint: '1-256 printable characters without spaces' },
  caller_id_number: { pattern: /^[\x20-\x7e]{0,64}$/, hint: 'at most 64 printable characters' },
};

/** The value of a context header under any of its accepted names; names that disagree are refused. */
export function readContextHeader(headers: IncomingHttpHeaders, name: ContextHeader): string | undefined {
  let found: { alias: string; value: string } | undefined;
  for (const alias of ALIASES[name]) {
    const raw = headers[alias];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value === undefined) continue;
    const trimmed = value.trim();
    if (!FORMATS[name].pattern.test(trimmed)) {
      throw new SwitchboardError('CONTEXT_HEADER_INVALID', `Header ${name} is invalid: expected ${FORMATS[name].hint}`, { details: { header: name } });
    }
    if (found && found.value !== trimmed) {
      throw new SwitchboardError('CONTEXT_HEADER_INVALID', `Header ${name} was sent twice with different values (as ${found.alias} and as ${alias}); send it once`, { details: { header: name } });
    }
    found ??= { alias, value: trimmed };
  }
  return found && found.value !== '' ? found.value : undefined;
}

export interface PartialContext {
  accountId: string | undefined;
  personaId: string | undefined;
  callId: string | undefined;
  callerIdNumber: string | undefined;
}

export function readPartialContext(headers: IncomingHttpHeaders): PartialContext {
  return {
    accountId: readContextHeader(headers, 'account_id'),
    personaId: readContextHeader(headers, 'persona_id'),
    callId: readContextHeader(headers, 'call_id'),
    callerIdNumber: readContextHeader(headers, 'caller_id_number'),
  };
}

/** The API key of the request, from X-API-Key or a bearer token; both present and different is refused, like context headers. */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const raw = headers['x-api-key'];
  const key = (Array.isArray(raw) ? raw[0] : raw)?.trim() || undefined;
  const authorization = headers.authorization;
  const bearer = (authorization && /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1]) || undefined;
  if (key && bearer && key !== bearer) throw new SwitchboardError('AUTH_KEY_INVALID', 'X-API-Key and Authorization: Bearer carry different keys; send the key once');
  return key ?? bearer;
}

/**
 * The key record of the request, or 401. With `failures`, a key that fails
 * counts against the client's address, and an address out of failures gets
 * 429 for any key not in use, before the key is looked up. Checks that need
 * no store (a missing key, a throttled address) answer before the look-up.
 */
export async function authenticate(req: Pick<IncomingMessage, 'headers' | 'socket'>, keys: ApiKeyStore, role: KeyRole, failures?: AuthFailureLimiter): Promise<ApiKeyRecord> {
  const key = presentedKey(req.headers);
  if (!key) throw new SwitchboardError('AUTH_KEY_MISSING', 'Missing API key: send it in the X-API-Key header');
  const address = req.socket.remoteAddress;
  const settle = await failures?.admitWhenChecked(address, () => keys.isInUse(key));
  const record = key.length > 200 ? undefined : await keys.verify(key);
  settle?.(record !== undefined);
  if (!record) {
    throw new SwitchboardError('AUTH_KEY_INVALID', 'Invalid or revoked API key');
  }
  if (!roleAllows(record.role, role)) throw new SwitchboardError('AUTH_ROLE', `This API key has role ${record.role}; this endpoint needs role ${role}`);
  return record;
}

/**
 * Refuses a key used for another account than its own (403), before
 * revealing whether that account exists. `where` names where the request
 * gave the account: the account_id header, or the path of the admin API.
 */
export function assertKeyAccount(record: ApiKeyRecord, accountId: string, where = 'account_id'): void {
  if (record.accountId !== accountId) {
    throw new SwitchboardError('AUTH_WRONG_ACCOUNT', `This API key does not belong to the account in ${where}`);
  }
}

/** A complete call context for a new session or a stateless request, checked against the manifests. */
export function resolveCallContext(partial: PartialContext, record: ApiKeyRecord, snapshot: Snapshot): CallContext {
  for (const [name, value] of [
    ['account_id', partial.accountId],
    ['persona_id', partial.personaId],
    ['call_id', partial.callId],
  ] as const) {
    if (!value) throw new SwitchboardError('CONTEXT_HEADER_MISSING', `Missing required header ${name}`, { details: { header: name } });
  }
  const accountId = partial.accountId as string;
  const personaId = partial.personaId as string;
  assertKeyAccount(record, accountId);
  const account = snapshot.accounts.get(accountId);
  if (!account) throw new SwitchboardError('UNKNOWN_ACCOUNT', `Account "${accountId}" is not configured on this server`);
  if (!findPersona(snapshot, accountId, personaId)) {
    throw new SwitchboardError('UNKNOWN_PERSONA', `Persona "${personaId}" is not configured for account "${accountId}"`);
  }
  return {
    accountId,
    personaId,
    callId: partial.callId as string,
    callerIdNumber: partial.callerIdNumber,
    callerE164: toE164(partial.callerIdNumber, account.defaultCountry),
    keyId: record.id,
  };
}

/**
 * Whether a request on an existing session carries the same identity the
 * session was opened with. Headers a request leaves out are inherited; a
 * header that is present must match.
 */
export function matchesBinding(bound: CallContext, record: ApiKeyRecord, partial: PartialContext): boolean {
  if (record.id !== bound.keyId) return false;
  if (partial.accountId !== undefined && partial.accountId !== bound.accountId) return false;
  if (partial.personaId !== undefined && partial.personaId !== bound.personaId) return false;
  if (partial.callId !== undefined && partial.callId !== bound.callId) return false;
  return true;
}
