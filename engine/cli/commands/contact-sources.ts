/**
 * `switchboard contacts sync` and `switchboard contacts sources`: run a
 * contact-source sync from this process, against the database the server
 * uses (the source's lease keeps the two from syncing one source at once),
 * and show each source's state. Sources come from the account manifest,
 * credentials from the environment or the secrets file, as for the server.
 */
import { isSwitchboardError, SwitchboardError } from '../../errors.ts';
import { resolveSources, type ResolvedSource } from '../../contacts/sources/config.ts';
import { describeOutcome, describeStatuses, outcomeJson, sourceStatusJson } from '../../contacts/sources/status.ts';
import { SourceStateStore } from '../../contacts/sources/state-store.ts';
import { ContactSourceSync, SHUTDOWN, type SyncOutcome } from '../../contacts/sources/sync.ts';
import { type CliIO, EXIT, print, printJson, table } from '../command.ts';
import { loadCliManifests, openCliServices } from '../open.ts';

interface SourceFlags {
  account: string;
  source?: string | undefined;
  full?: boolean | undefined;
  json?: boolean | undefined;
  data?: string | undefined;
  personas?: string | undefined;
}

async function configuredSources(flags: SourceFlags, io: CliIO): Promise<ResolvedSource[]> {
  const snapshot = await loadCliManifests(flags.personas, io);
  const account = snapshot.accounts.get(flags.account);
  if (!account) throw new SwitchboardError('BAD_REQUEST', `account ${flags.account} is not in the manifests; pass --personas DIR`);
  const sources = resolveSources(account);
  if (flags.source === undefined) return sources;
  const chosen = sources.filter((source) => source.name === flags.source);
  if (!chosen.length) {
    const names = sources.map((source) => source.name);
    throw new SwitchboardError('BAD_REQUEST', `account ${flags.account} has no contact source ${flags.source}${names.length ? `; its sources: ${names.join(', ')}` : ''}`);
  }
  return chosen;
}

export async function syncSources(flags: SourceFlags, io: CliIO): Promise<number> {
  const sources = await configuredSources(flags, io);
  if (!sources.length) {
    print(io.stdout, `Account ${flags.account} has no contact_sources in its account.yaml.`);
    return EXIT.ok;
  }
  const services = await openCliServices(flags, io);
  const sync = new ContactSourceSync({ store: services.store, contacts: services.contacts, secrets: services.secrets, clock: services.clock, log: services.log, outbound: services.outbound });
  // Ctrl-C ends the sync cleanly: its lease is released and the server takes over.
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort(SHUTDOWN);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const outcomes: SyncOutcome[] = [];
  const conflicts: string[] = [];
  try {
    for (const source of sources) {
      if (interrupt.signal.aborted) break;
      try {
        const outcome = await sync.run(source, { full: flags.full ?? false, signal: interrupt.signal });
        outcomes.push(outcome);
        if (!flags.json) print(outcome.ok ? io.stdout : io.stderr, describeOutcome(outcome));
      } catch (error) {
        if (!isSwitchboardError(error) || error.code !== 'CONFLICT') throw error;
        conflicts.push(error.message);
        if (!flags.json) print(io.stderr, `${source.name}: ${error.message}`);
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await services.close();
  }
  if (flags.json) printJson(io.stdout, { account: flags.account, outcomes: outcomes.map(outcomeJson), conflicts });
  return outcomes.every((outcome) => outcome.ok) && !conflicts.length ? EXIT.ok : EXIT.problems;
}

export async function showSources(flags: SourceFlags, io: CliIO): Promise<number> {
  const sources = await configuredSources(flags, io);
  const services = await openCliServices(flags, io);
  try {
    const states = new Map((await new SourceStateStore(services.store).forAccount(flags.account)).map((state) => [state.source, state]));
    const now = services.clock.now();
    const statuses = sources.map((source) => sourceStatusJson(source, states.get(source.name), now));
    if (flags.json) {
      printJson(io.stdout, { account: flags.account, sources: statuses });
    } else if (!statuses.length) {
      print(io.stdout, `Account ${flags.account} has no contact_sources in its account.yaml.`);
    } else {
      const { rows, errors } = describeStatuses(statuses);
      print(io.stdout, table(rows));
      for (const line of errors) print(io.stdout, line);
    }
    return EXIT.ok;
  } finally {
    await services.close();
  }
}
