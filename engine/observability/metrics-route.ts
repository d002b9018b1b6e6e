/**
 * GET /metrics in the Prometheus text format.
 *
 * With a metrics token set, a scrape must send `Authorization: Bearer
 * <token>`. Without one, the figures are served only when the server listens
 * on a loopback address: anything that reaches it then runs on this machine
 * (or comes through a local proxy, which should not forward /metrics; the
 * sample proxy configurations do not). A server listening beyond loopback
 * without a token refuses to serve them rather than publish them to the network.
 * A wrong token counts as a failed authentication of the client's address,
 * as a wrong API key does, and a throttled address is refused before its
 * token is compared.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

import type { Express } from 'express';

import { SwitchboardError } from '../errors.ts';
import type { AuthFailureLimiter } from '../http/auth-failures.ts';
import { isLoopbackAddress } from '../http/host-guard.ts';
import type { Metrics } from './metrics.ts';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

export interface MetricsAccess {
  token: string | undefined;
  bindHost: string;
  /** Failed authentications per client address. */
  failures?: AuthFailureLimiter;
}

/** Throws the refusal for a scrape that may not read the metrics; `address` is the client's. */
export function checkMetricsAccess(authorization: string | undefined, access: MetricsAccess, address?: string): void {
  if (access.token) {
    const presented = authorization && /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
    if (!presented) throw new SwitchboardError('AUTH_KEY_MISSING', 'Send the metrics token as "Authorization: Bearer <token>"');
    // No exception for the right token while the address is throttled: an operator's token may be weak
    // enough to guess, and a guess must not be tried. Scrapers come from their own address, not the attacker's.
    const settle = access.failures?.admit(address, () => false);
    const verified = timingSafeEqual(digest(presented), digest(access.token));
    settle?.(verified);
    if (!verified) {
      throw new SwitchboardError('AUTH_KEY_INVALID', 'Wrong metrics token');
    }
    return;
  }
  if (!isLoopbackAddress(access.bindHost)) {
    throw new SwitchboardError('METRICS_TOKEN_REQUIRED', 'This server listens beyond loopback: set --metrics-token (SWITCHBOARD_METRICS_TOKEN) to serve /metrics');
  }
}

export function metricsRoute(metrics: Metrics, access: MetricsAccess): (app: Express) => void {
  return (app) => {
    app.get('/metrics', async (req, res) => {
      checkMetricsAccess(req.headers.authorization, access, req.socket.remoteAddress);
      const body = await metrics.render();
      res.setHeader('Content-Type', metrics.contentType);
      res.setHeader('Cache-Control', 'no-store');
      res.send(body);
    });
  };
}
