/**
 * Which secrets the manifests name, and which of them this server cannot
 * read: one inventory for `switchboard status`, the /readyz detail, the
 * first screen of `serve` and `validate --check-secrets`, so that all four
 * say the same thing.
 *
 * Manifests name secrets in three places: API tools' `{{secret.NAME}}`
 * templates, the call-control driver's settings (each driver names its own,
 * `secretNames` in drivers/driver.ts), and contact sources' credentials.
 * A missing one does not stop the server, nor make the node unready (every
 * other account still works); it makes one part fail on use, and that part
 * is what an operator needs to read before the first call does: which tool
 * answers "not configured", that transfers and hang-ups of an account fail
 * at once, that a contact source never syncs.
 *
 * Only names are handled here, never values. The tool list of an API tool's
 * secrets comes from its plan (the same template walk the request uses).
 * /readyz is polled, so the needs are worked out once per snapshot (which
 * never changes; an API tool's names once per manifest entry, which
 * snapshots share while the file is unchanged), and only whether each
 * secret is set is asked each time: a secrets file re-read on SIGHUP counts
 * at once.
 */
import { callControlSecretNames } from './calls/drivers/index.ts';
import { sourceName } from './contacts/sources/config.ts';
import type { Snapshot } from './manifests/snapshot.ts';
import type { ApiRequestEntry } from './manifests/types.ts';
import type { SecretSource } from './secrets.ts';
import { planApiRequest } from './tools/custom/api-request/plan.ts';

/** What names a secret. */
export type SecretUser =
  | { kind: 'api_tool'; persona: string; tool: string }
  | { kind: 'call_control'; driver: string }
  | { kind: 'contact_source'; source: string };

/** A tool of a persona. */
export interface PersonaTool {
  persona: string;
  tool: string;
}

export interface SecretNeed {
  account: string;
  user: SecretUser;
  /** The manifest that names the secrets, relative to the personas directory. */
  file: string;
  /** Every secret it names, sorted. */
  secrets: string[];
  /** Tools that fail (or, for a contact source, miss contacts) while one of them is missing. */
  tools: PersonaTool[];
}

export interface MissingSecrets extends SecretNeed {
  /** The secrets it names that are not set, or set empty. */
  missing: string[];
  /** What does not work, in one sentence. */
  effect: string;
}

const CALL_CONTROL_TOOLS = new Set(['transfer_call', 'hangup_call']);
const CALL_CONTROL_TYPES = new Set(['transfer_to_user', 'transfer_to_queue']);

/** Per manifest entry, which snapshots share while its file is unchanged: a reload plans only what changed. */
const apiSecrets = new WeakMap<ApiRequestEntry, readonly string[]>();
function secretsOfApiTool(entry: ApiRequestEntry): readonly string[] {
  let names = apiSecrets.get(entry);
  if (!names) {
    try {
      names = planApiRequest(entry).secrets;
    } catch {
      names = []; // An entry that does not plan is not served: its file's problem says why.
    }
    apiSecrets.set(entry, names);
  }
  return names;
}

const needsOf = new WeakMap<Snapshot, readonly SecretNeed[]>();

/** Every secret the manifests of `snapshot` name, by what names it; accounts and personas in name order. */
export function secretNeeds(snapshot: Snapshot): readonly SecretNeed[] {
  let needs = needsOf.get(snapshot);
  if (!needs) needsOf.set(snapshot, (needs = listNeeds(snapshot)));
  return needs;
}

function listNeeds(snapshot: Snapshot): SecretNeed[] {
  const needs: SecretNeed[] = [];
  const personas = [...snapshot.personas.values()].sort((a, b) => a.accountId.localeCompare(b.accountId) || a.id.localeCompare(b.id));
  for (const account of [...snapshot.accounts.values()].sort((a, b) => a.id.localeCompare(b.id))) {
    const own = personas.filter((persona) => persona.accountId === account.id);
    const settings = account.manifest.call_control;
    const driverSecrets = settings ? callControlSecretNames(settings) : [];
    if (settings && driverSecrets.length) {
      const tools = own.flatMap((persona) =>
        [...persona.catalog.tools.keys()]
          .filter((tool) => CALL_CONTROL_TOOLS.has(tool) || (persona.manifest.tools ?? []).some((entry) => entry.name === tool && CALL_CONTROL_TYPES.has(entry.type)))
          .map((tool) => ({ persona: persona.id, tool })),
      );
      needs.push({ account: account.id, user: { kind: 'call_control', driver: settings.driver }, file: account.file, secrets: [...new Set(driverSecrets)].sort(), tools });
    }
    const lookups = own.filter((persona) => persona.catalog.tools.has('lookup_contact')).map((persona) => ({ persona: persona.id, tool: 'lookup_contact' }));
    for (const source of account.manifest.contact_sources ?? []) {
      const { client_id, client_secret, refresh_token } = source.credentials;
      needs.push({ account: account.id, user: { kind: 'contact_source', source: sourceName(source) }, file: account.file, secrets: [...new Set([client_id, client_secret, refresh_token])].sort(), tools: lookups });
    }
    for (const persona of own) {
      for (const entry of persona.manifest.tools ?? []) {
        if (entry.type !== 'api_request' || !persona.catalog.tools.has(entry.name)) continue;
        const secrets = secretsOfApiTool(entry);
        if (secrets.length) needs.push({ account: account.id, user: { kind: 'api_tool', persona: persona.id, tool: entry.name }, file: persona.file, secrets: [...secrets], tools: [{ persona: persona.id, tool: entry.name }] });
      }
    }
  }
  return needs;
}

function effectOf(need: SecretNeed): string {
  const tools = toolList(need.tools);
  switch (need.user.kind) {
    case 'api_tool':
      return 'the tool answers that it is not configured, on every call';
    case 'call_control':
      return `the ${need.user.driver} driver cannot reach the phone system, so transfers and hang-ups fail at once${tools ? ` (${tools})` : ''}`;
    case 'contact_source':
      return `the source does not sync, so lookup_contact does not find its contacts${tools ? ` (${tools})` : ''}`;
  }
}

/** The needs of `snapshot` with a secret `secrets` does not hold (unset or empty). */
export function missingSecrets(snapshot: Snapshot, secrets: SecretSource): MissingSecrets[] {
  const missing: MissingSecrets[] = [];
  for (const need of secretNeeds(snapshot)) {
    const absent = need.secrets.filter((name) => !secrets.get(name));
    if (absent.length) missing.push({ ...need, missing: absent, effect: effectOf(need) });
  }
  return missing;
}

/** "front-desk: transfer_call, hangup_call; sales: transfer_call", personas in order. */
export function toolList(tools: readonly PersonaTool[]): string {
  const byPersona = new Map<string, string[]>();
  for (const { persona, tool } of tools) byPersona.set(persona, [...(byPersona.get(persona) ?? []), tool]);
  return [...byPersona].map(([persona, names]) => `${persona}: ${names.join(', ')}`).join('; ');
}

export function describeUser(user: SecretUser): string {
  switch (user.kind) {
    case 'api_tool':
      return `tool ${user.tool} of persona ${user.persona}`;
    case 'call_control':
      return `call control (${user.driver})`;
    case 'contact_source':
      return `contact source ${user.source}`;
  }
}

/** One line: "acme: ACME_SHOP_TOKEN for tool order_status of persona front-desk: the tool answers ...". */
export const formatMissing = (entry: Pick<MissingSecrets, 'account' | 'missing' | 'user' | 'effect'>): string => `${entry.account}: ${entry.missing.join(', ')} for ${describeUser(entry.user)}: ${entry.effect}`;

/** How many distinct secrets are to be set (one name can serve several accounts). */
export const countMissing = (entries: readonly Pick<MissingSecrets, 'missing'>[]): number => new Set(entries.flatMap((entry) => entry.missing)).size;
