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
 * Patterns (dial-patterns.ts): digit patterns as dial plans write them
 * ("6XX", "+4930.") and region classes backed by the numbering-plan data
 * ("+1 US/CA"). `checkTransferPolicy` refuses region classes that name no
 * region of their code, and warns about allow patterns that open whole
 * international ranges: `validate` reports them, the server logs them.
 */
import { getCountryCallingCode, isSupportedCountry, parsePhoneNumberFromString } from 'libphonenumber-js/max';

import type { AccountEntry } from '../manifests/entries.ts';
import type { TransferPolicy } from '../manifests/types.ts';
import { dialString, isExtension, toE164 } from '../phone.ts';
import { compileDialPattern, leadingDigitsOf, patternReach, regionClass, regionsOfCallingCode, regionsWithoutLeadingDigits, type DialPattern } from './dial-patterns.ts';

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
  allow: DialPattern[];
  deny: DialPattern[];
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
    policy = { allow: (manifest?.allow ?? []).map(compileDialPattern), deny: (manifest?.deny ?? []).map(compileDialPattern), extensions };
    compiled.set(account, policy);
  }
  return policy;
}

const firstMatch = (patterns: readonly DialPattern[], dial: string): string | undefined => patterns.find((pattern) => pattern.matches(dial))?.source;

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

interface PolicyFinding {
  path: (string | number)[];
  message: string;
  /** A warning is reported but does not stop the account from loading. */
  severity?: 'warning';
}

const regionName = (region: string): string => new Intl.DisplayNames(['en'], { type: 'region' }).of(region) ?? region;
const listed = (items: readonly string[]): string => (items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`);

/** What a warning says about an allow pattern that opens more than its digits suggest; undefined when it does not. */
function reachWarning(source: string): string | undefined {
  const reach = patternReach(source);
  if (!reach) return undefined;
  if (reach.callingCodes.length > 1) {
    const shown = reach.callingCodes.slice(0, 8).map((code) => `+${code}`);
    return `"${source}" allows numbers of ${reach.callingCodes.length} country codes (${shown.join(', ')}${reach.callingCodes.length > shown.length ? ', …' : ''}), premium and satellite services of any of them included; allow each country you transfer to by its own code, e.g. "+44 GB" or "+4420."`;
  }
  const code = reach.callingCodes[0];
  if (!code || !reach.sharedRegions.length) return undefined;
  const home = regionsWithoutLeadingDigits(code);
  // Where every country of the code has its own leading digits (+7: Russia and Kazakhstan), the code's first country is the one to suggest.
  const meant = home.length ? home : regionsOfCallingCode(code).slice(0, 1);
  const example = reach.sharedRegions[0] as string;
  const exampleDigits = leadingDigitsOf(example)?.[0] ?? '';
  return (
    `"${source}" allows every country that shares +${code}${home.length ? `, not only ${listed(home)}: also` : ':'} ${reach.sharedRegions.join(', ')} ` +
    `(e.g. +${code} ${exampleDigits}, ${regionName(example)}), numbers abroad that are charged as international calls; ` +
    `write "+${code} ${meant.join('/')}" to allow ${listed(meant)} only, or name the area codes`
  );
}

/**
 * Checks of a transfer policy beyond its schema: region classes must name
 * regions of their country code (errors); allow patterns that open whole
 * international ranges are warnings, since a deliberate policy may want them.
 */
export function checkTransferPolicy(policy: TransferPolicy | undefined): PolicyFinding[] {
  const findings: PolicyFinding[] = [];
  for (const list of ['allow', 'deny'] as const) {
    (policy?.[list] ?? []).forEach((source, index) => {
      const path = ['transfer_policy', list, index];
      const regions = regionClass(source);
      if (regions) {
        const ofCode = regionsOfCallingCode(regions.callingCode);
        if (!ofCode.length) {
          findings.push({ path, message: `+${regions.callingCode} is not the country code of a country` });
          return;
        }
        for (const region of regions.regions.filter((name) => !ofCode.includes(name))) {
          const own = isSupportedCountry(region) ? ` (its code is +${getCountryCallingCode(region)})` : '';
          findings.push({ path, message: `${region} is not a country of +${regions.callingCode}${own}; +${regions.callingCode} has ${ofCode.join(', ')}` });
        }
        return;
      }
      const warning = list === 'allow' ? reachWarning(source) : undefined;
      if (warning) findings.push({ path, message: warning, severity: 'warning' });
    });
  }
  return findings;
}
