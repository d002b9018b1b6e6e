/**
 * What call control adds to a running server: the phone-system drivers (one
 * per account, kept in step with the manifests), the PBX-facing admin
 * routes, the signed callback route of phone systems that call back, the
 * hang-up job, and the end of a call's MCP sessions once the call is over
 * (a DELETE of the call closes them in its own route, to report how many).
 * Streams of the events driver end at shutdown, so PBX integrations
 * reconnect instead of waiting on a dead socket. With several nodes, one of
 * them at a time forgets the hand-overs of commands older than a day.
 */
import type { Clock } from '../clock.ts';
import type { ClusterNode } from '../cluster/cluster.ts';
import type { ServerSettings } from '../config.ts';
import type { Registry } from '../manifests/registry.ts';
import type { BackgroundJob } from '../vocabulary/jobs.ts';
import type { AdminRoutes, AppRoutes } from '../vocabulary/routes.ts';
import { callRoutes, type CallRoutesContext } from './admin-routes.ts';
import { endSessionsOf, listenForEndedCalls } from './end-sessions.ts';
import { pbxCallbackRoute } from './drivers/callback-route.ts';
import { hangupJob } from './hangup-job.ts';

const HOUR_MS = 3_600_000;

/**
 * What call control's part of the server uses: what its routes use, the
 * manifests' reloads (the drivers follow them), the clock and this node of
 * the cluster (for old hand-overs), and the public URL phone systems call
 * back at.
 */
export type CallControlContext = CallRoutesContext & {
  registry: Pick<Registry, 'current' | 'on'>;
  services: { clock: Clock; cluster?: ClusterNode | undefined };
  settings: Pick<ServerSettings, 'publicUrl'>;
};

export function callControlExtension(context: CallControlContext): { adminRoutes: AdminRoutes[]; rawBodyRoutes: AppRoutes[]; startJobs: BackgroundJob[]; jobs: BackgroundJob[] } {
  const calls = context.services.calls;
  let listening: Promise<(() => Promise<void>) | undefined> = Promise.resolve(undefined);
  let forgetting: NodeJS.Timeout | undefined;
  // Started before every other job: the hang-up job's recovery sends through these drivers.
  const drivers: BackgroundJob = {
    name: 'call-control-drivers',
    start() {
      calls.drivers.reconcile(context.registry.current().accounts);
      context.registry.on('reload', () => calls.drivers.reconcile(context.registry.current().accounts));
      // Without it a tool still gets its verdict, at the end of its wait: logged, not fatal.
      listening = calls.listen().catch((error: unknown) => {
        context.services.log.error({ err: error, event: 'call_control_listen_failed' }, 'verdicts settled by other processes are read only when a wait ends');
        return undefined;
      });
      const { cluster, clock, log } = context.services;
      if (cluster && calls.acrossNodes) {
        const across = calls.acrossNodes;
        forgetting = setInterval(() => {
          void cluster
            .takeTurn('forget-handoffs', HOUR_MS, clock.now())
            .then((mine) => (mine ? across.forgetOld() : 0))
            .catch((error: unknown) => log.warn({ err: error, event: 'handoffs_not_forgotten' }, 'old command hand-overs could not be deleted; tried again within the hour'));
        }, HOUR_MS);
        forgetting.unref();
      }
    },
    async stop() {
      clearInterval(forgetting);
      await (await listening)?.();
      await calls.drivers.stopAll();
      // Verdicts and steps the stopped drivers reported last are written before the store closes.
      await calls.reportsWritten();
    },
  };
  let endedListening: Promise<(() => Promise<void>) | undefined> = Promise.resolve(undefined);
  const endSessions: BackgroundJob = {
    name: 'call-sessions',
    start() {
      calls.on('ended', (accountId, callId) => {
        void endSessionsOf(context, accountId, callId);
      });
      endedListening = listenForEndedCalls(context).catch((error: unknown) => {
        context.services.log.error({ err: error, event: 'call_end_listen_failed' }, "calls ended on other nodes close this node's sessions only at their idle time");
        return undefined;
      });
    },
    async stop() {
      await (await endedListening)?.();
      calls.streams.closeAll();
    },
  };
  return {
    adminRoutes: [callRoutes(context)],
    rawBodyRoutes: [pbxCallbackRoute(calls.drivers, context.settings.publicUrl, context.services.log, (accountId) => calls.reportsWritten(accountId))],
    startJobs: [drivers],
    jobs: [hangupJob(calls.hangups, (listener) => calls.on('hangupScheduled', listener), context.services.clock, context.services.log), endSessions],
  };
}
