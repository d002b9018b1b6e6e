/**
 * The transfer policy: what transfer_call may dial. A caller can talk a model
 * into "transferring" to a premium-rate number; this is the defence against
 * that toll fraud, so it fails closed.
 *
 * A destination is read once (an extension stays a dial string, anything else
 * becomes E.164 with the account's default country) and then judged:
 *   1. a deny pattern matches             -> refused (deny wins over everything)
 *   2. the numbering plan says premium     -> refused (even if a pattern allows it)
 *   3. a user's or queue's extension       -> allowed
 *   4. an allow pattern matches            -> allowed
 *   5. otherwise                           -> refused
 * Without a transfer_policy only step 1-3 apply: users' and queues' extensions.
 *
 * Patterns: digits, '*' and '#' match themselves, X any digit, Z 1-9, N 2-9,
 * a trailing '.' one or more further digits; a pattern with a leading '+'
 * matches E.164 numbers, one without matches extensions.
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

import type { AccountEntry } from '../manifests/snapshot.ts';
import { dialString, isExtension, toE164 } from '../phone.ts';

interface CompiledPattern {
  source: string;
  regex: RegExp;
}

function compilePattern(pattern: string): CompiledPattern {
  let body = '';
  const open = pattern.endsWith('.');
  const symbols = open ? pattern.slice(0, -1) : pattern;
  for (const symbol of symbols) {
    if (symbol === 'X') body += '[0-9]';
    else if (symbol === 'Z') body += '[1-9]';
    else if (symbol === 'N') body += '[2-9]';
    else if (/[0-9]/.test(symbol)) body += symbol;
    else body += `\\${symbol}`; // '+', '*', '#'
  }
  return { source: pattern, regex: new RegExp(`^${body}${open ? '[0-9]+' : ''}$`) };
}

export interface ReadNumber {
  dial: string;
  type: 'extension' | 'e164';
}

/** The destination as it would be dialed, or undefined when it is neither an extension nor a phone number. */
export function readDestination(raw: string, defaultCountry: string): ReadNumber | undefined {
  if (isExtension(raw)) return { dial: dialString(raw), type: 'extension' };
  const e164 = toE164(raw, defaultCountry);
  return e164 ? { dial: e164, type: 'e164' } : undefined;
}

/** A user's, queue's or voicemail's extension, read the same way as a destination. */
const readExtension = (extension: string, defaultCountry: string): string => readDestination(extension, defaultCountry)?.dial ?? dialString(extension);

export type PolicyVerdict =
  | { allowed: true; via: 'user' | 'queue' | 'allow_pattern'; id?: string; name?: string; pattern?: string }
  | { allowed: false; reason: 'denied' | 'premium_rate' | 'not_allowed'; pattern?: string };

interface CompiledPolicy {
  allow: CompiledPattern[];
  deny: CompiledPattern[];
  /** Users' and queues' extensions, read like a destination. */
  extensions: Map<string, { via: 'user' | 'queue'; id: string; name: string }>;
}

/** Account entries are immutable snapshots: each is compiled once. */
const compiled = new WeakMap<AccountEntry, CompiledPolicy>();

function policyOf(account: AccountEntry): CompiledPolicy {
  let policy = compiled.get(account);
  if (!policy) {
    const extensions: CompiledPolicy['extensions'] = new Map();
    const read = (extension: string) => readExtension(extension, account.defaultCountry);
    for (const queue of account.queues.values()) extensions.set(read(queue.extension), { via: 'queue', id: queue.id, name: queue.name });
    for (const user of account.users.values()) extensions.set(read(user.extension), { via: 'user', id: user.id, name: user.name });
    const manifest = account.manifest.transfer_policy;
    policy = { allow: (manifest?.allow ?? []).map(compilePattern), deny: (manifest?.deny ?? []).map(compilePattern), extensions };
    compiled.set(account, policy);
  }
  return policy;
}

const firstMatch = (patterns: readonly CompiledPattern[], dial: string): string | undefined => patterns.find((pattern) => pattern.regex.test(dial))?.source;

function isPremiumRate(number: ReadNumber): boolean {
  return number.type === 'e164' && parsePhoneNumberFromString(number.dial)?.getType() === 'PREMIUM_RATE';
}

export function judgeDestination(account: AccountEntry, number: ReadNumber): PolicyVerdict {
  const policy = policyOf(account);
  const denied = firstMatch(policy.deny, number.dial);
  if (denied) return { allowed: false, reason: 'denied', pattern: denied };
  if (isPremiumRate(number)) return { allowed: false, reason: 'premium_rate' };
  const own = policy.extensions.get(number.dial);
  if (own) return { allowed: true, ...own };
  const allowed = firstMatch(policy.allow, number.dial);
  if (allowed) return { allowed: true, via: 'allow_pattern', pattern: allowed };
  return { allowed: false, reason: 'not_allowed' };
}

/**
 * For targets a manifest names (transfer_to_user, transfer_to_queue): they
 * skip the allow list, but a deny pattern still wins. Returns the deny
 * pattern that blocks the extension, if any, so the manifest is refused at load.
 */
export function deniedManifestTarget(account: AccountEntry, extension: string): string | undefined {
  return firstMatch(policyOf(account).deny, readExtension(extension, account.defaultCountry));
}
