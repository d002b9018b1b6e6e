/**
 * GET /ucp/v2/accounts/{account}/changes: a read-only stream of server-sent
 * events telling an admin client (the console) which of the account's lists
 * changed, so it reads them again only then instead of polling. Nothing is
 * ever sent back on it, and it delivers no commands: the PBX's call-events
 * stream is another endpoint, which a console never opens (a console taking
 * commands off it would take them from the PBX).
 *
 *   retry: 2000
 *   : connected
 *
 *   event: changed
 *   data: {"kinds":["audit","calls","leads"]}
 *
 * A comment line every heartbeat keeps proxies from closing an idle stream.
 * A client that reconnects reads every list again: notices are not replayed.
 *
 * Also here: the watcher of the account's admin writes to calls (calls
 * registered or ended, acknowledgements), which announces them once answered.
 * DND changes are announced by the DND store itself, whoever made them.
 */
import type { Request, Response, Router } from 'express';

import { SwitchboardError } from '../errors.ts';
import { accountParam, onlyQueryParams } from '../http/query.ts';
import type { ChangeFeed, ChangeKind } from './changes.ts';

export const CHANGES_HEARTBEAT_MS = 15_000;
const RECONNECT_HINT_MS = 2_000;
/** Streams of one account open at once on a node: a console tab holds one. */
export const MAX_CHANGE_STREAMS_PER_ACCOUNT = 32;

/** Which lists a successful admin write changed, by its path under the account. */
export function kindsOfWrite(method: string, path: string): ChangeKind[] {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return [];
  if (/^\/calls(?:\/|$)/.test(path) || /^\/call-events\//.test(path)) return ['calls'];
  return [];
}

export interface ChangeStreams {
  /** Mounts the write watcher (first, so it sees every admin route) and GET /changes. */
  mount(router: Router): void;
  /** Ends every open stream (shutdown). */
  closeAll(): void;
}

export function changeStreams(feed: ChangeFeed, heartbeatMs = CHANGES_HEARTBEAT_MS): ChangeStreams {
  const open = new Set<Response>();
  return {
    mount(router) {
      router.use((req: Request, res: Response, next) => {
        const kinds = kindsOfWrite(req.method, req.path);
        if (kinds.length) {
          // Read now: the routes after this one set req.params anew.
          const accountId = accountParam(req);
          res.on('finish', () => {
            if (res.statusCode < 300) feed.announce(accountId, kinds);
          });
        }
        next();
      });

      router.get('/changes', (req: Request, res: Response) => {
        onlyQueryParams(req, []);
        const accountId = accountParam(req);
        if (feed.listenerCount(accountId) >= MAX_CHANGE_STREAMS_PER_ACCOUNT) {
          throw new SwitchboardError('RATE_LIMITED', `${MAX_CHANGE_STREAMS_PER_ACCOUNT} change streams of this account are open on this server; close one (a console tab) first`, { retryAfter: 10 });
        }
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.write(`retry: ${RECONNECT_HINT_MS}\n: connected\n\n`);
        const stop = feed.subscribe(accountId, (kinds) => {
          res.write(`event: changed\ndata: ${JSON.stringify({ kinds: [...kinds].sort() })}\n\n`);
        });
        const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), heartbeatMs);
        heartbeat.unref();
        open.add(res);
        res.on('close', () => {
          clearInterval(heartbeat);
          stop();
          open.delete(res);
        });
      });
    },
    closeAll() {
      for (const res of open) res.end();
    },
  };
}
