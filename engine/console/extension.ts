/**
 * What the console adds to a running server: the page and its files at
 * /ucp/v2/console, the admin endpoints it reads (admin-routes.ts), the
 * stream of change notices and the sources that feed it (changes.ts), the
 * simulated phone system of the try panel, and the git commit of the
 * manifests directory, read at each reload.
 */
import { SETTLED_CHANNEL } from '../calls/control.ts';
import type { ServerSettings } from '../config.ts';
import { readGitHead, type GitHead } from '../manifests/git-head.ts';
import type { Registry } from '../manifests/registry.ts';
import type { Services } from '../services.ts';
import { list, sql } from '../store/sql.ts';
import type { ToolDispatcher } from '../tools/dispatch.ts';
import type { BackgroundJob } from '../vocabulary/jobs.ts';
import type { AdminRoutes, AppRoutes } from '../vocabulary/routes.ts';
import { consoleAdminRoutes } from './admin-routes.ts';
import { ChangeFeed } from './changes.ts';
import { changeStreams } from './changes-route.ts';
import { consolePageRoutes } from './page.ts';
import { SimulatedCalls } from './simulated-calls.ts';

/** Commands of one settled-commands notice whose accounts are looked up (a notice names a few). */
const MAX_SETTLED_LOOKUP = 100;
/** How often this node's view of each watched account's phone-system connection is compared with the last one sent (in memory, no query). */
const PHONE_SYSTEM_CHECK_MS = 1_000;

export interface ConsoleExtension {
  /** Mounted before every other admin route: its write watcher must see them all. */
  adminRoutes: AdminRoutes[];
  rootRoutes: AppRoutes[];
  jobs: BackgroundJob[];
}

/** What the console uses of the server: its services and manifests, its dispatcher (tries on a real call), and where the manifests are. */
export interface ConsoleContext {
  services: Services;
  registry: Registry;
  dispatcher: ToolDispatcher;
  settings: Pick<ServerSettings, 'personasDir' | 'nodeName'>;
}

export function consoleExtension(context: ConsoleContext): ConsoleExtension {
  const { services, registry, settings } = context;
  const log = services.log.child({ component: 'console' });
  const feed = new ChangeFeed(services.store, log);
  const streams = changeStreams(feed);
  const simulated = new SimulatedCalls({ services, registry, log, observe: (event) => services.audit.record(event) });

  // The commit checked out when the snapshot in force was loaded (the first load ran before this).
  let head: { generation: number; read: Promise<GitHead | null> } = { generation: registry.current().generation, read: readGitHead(settings.personasDir) };
  registry.on('reload', (report) => {
    head = { generation: report.generation, read: readGitHead(settings.personasDir) };
    for (const accountId of feed.accounts()) feed.changed(accountId, ['manifests']);
  });

  let stopListening: Promise<(() => Promise<void>) | undefined> = Promise.resolve(undefined);
  let phoneCheck: NodeJS.Timeout | undefined;
  const phoneStates = new Map<string, string>();
  const job: BackgroundJob = {
    name: 'console',
    start() {
      services.audit.onWritten((accounts) => {
        // A tool call's changes to calls and leads are committed before its audit row is written.
        for (const accountId of accounts) feed.announce(accountId, ['audit', 'calls', 'leads']);
      });
      services.dnd.onChanged((accountId) => feed.announce(accountId, ['users']));
      services.calls.on('ended', (accountId) => feed.announce(accountId, ['calls']));
      services.store.onReconnect(() => feed.everythingChanged());
      // Verdicts that came after the tool stopped waiting, withdrawals, hang-ups: announced by call control to every node, by command id.
      const settled = async (payload: string): Promise<void> => {
        if (!feed.accounts().length) return;
        const ids = payload.split(',').filter((id) => /^\d+$/.test(id)).slice(0, MAX_SETTLED_LOOKUP).map(Number);
        if (!ids.length) return;
        const rows = await services.store.all<{ account_id: string }>(sql`SELECT DISTINCT account_id FROM call_commands WHERE id IN ${list(ids)}`);
        for (const row of rows) feed.changed(row.account_id, ['calls']);
      };
      const stops: (() => Promise<void>)[] = [];
      const stopAll = async (): Promise<void> => {
        for (const stop of stops.splice(0)) await stop();
      };
      // The channels share one connection: listened to one after another.
      stopListening = (async () => {
        stops.push(await feed.listen());
        stops.push(await services.store.listen(SETTLED_CHANNEL, (payload) => void settled(payload).catch(() => undefined)));
        return stopAll;
      })().catch(async (error: unknown) => {
        await stopAll();
        log.error({ err: error, event: 'console_listen_failed' }, 'consoles show changes only when they read their lists again');
        return undefined;
      });
      phoneCheck = setInterval(() => {
        const watched = new Set(feed.accounts());
        for (const accountId of phoneStates.keys()) if (!watched.has(accountId)) phoneStates.delete(accountId);
        for (const accountId of watched) {
          const health = services.calls.healthOf(accountId);
          const state = `${health.state}\u0000${health.reason ?? ''}`;
          const before = phoneStates.get(accountId);
          phoneStates.set(accountId, state);
          if (before !== undefined && before !== state) feed.changed(accountId, ['phone_system']);
        }
      }, PHONE_SYSTEM_CHECK_MS);
      phoneCheck.unref();
    },
    async stop() {
      clearInterval(phoneCheck);
      streams.closeAll();
      feed.stop();
      await (await stopListening)?.();
      await simulated.close();
    },
  };

  return {
    adminRoutes: [
      consoleAdminRoutes({
        context,
        streams,
        tries: { services, registry, dispatcher: context.dispatcher, simulated, log },
        gitHead: () => head.read,
      }),
    ],
    rootRoutes: [consolePageRoutes()],
    jobs: [job],
  };
}
