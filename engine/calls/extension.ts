/**
 * What call control adds to a running server: the PBX-facing admin routes,
 * the hang-up job, and the end of a call's MCP sessions once a hang-up is
 * confirmed (a DELETE of the call closes them in its own route, to report
 * how many). Streams of the events driver end at shutdown, so PBX
 * integrations reconnect instead of waiting on a dead socket.
 */
import type { AppContext, BackgroundJob } from '../app-context.ts';
import type { AdminRoutes } from '../http/app.ts';
import { callRoutes } from './admin-routes.ts';
import { hangupJob } from './hangup-job.ts';

export function callControlExtension(context: AppContext): { adminRoutes: AdminRoutes[]; jobs: BackgroundJob[] } {
  const calls = context.services.calls;
  const endSessions: BackgroundJob = {
    name: 'call-sessions',
    start() {
      calls.on('ended', (accountId, callId) => {
        void context.sessions.closeWhere((session) => session.call.accountId === accountId && session.call.callId === callId, 'call_ended');
      });
    },
    async stop() {
      calls.streams.closeAll();
    },
  };
  return { adminRoutes: [callRoutes(context)], jobs: [hangupJob(calls, context.services.clock), endSessions] };
}
