/**
 * GET /metrics in the Prometheus text format.
 *
 * With a metrics token set, a scrape must send `Authorization: Bearer
 * <token>`. Without one, the figures are served only when the server listens
 * on a loopback address: anything that reaches it then runs on this machine
 * (or comes through a local proxy, which should not forward /metrics; the
 * sample proxy configurations do not). A server listening beyond loopback
 * without a token refuses to serve them rather than publish them to the network.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

import type { Express } from 'express';

import { SwitchboardError } from '../errors.ts';
import { isLoopbackAddress } from '../http/host-guard.ts';
import type { Metrics } from './metrics.ts';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

export interface MetricsAccess {
  token: string | undefined;
  bindHost: string;
}

/** Throws the refusal for a scrape that may not read the metrics. */
export function checkMetricsAccess(authorization: string | undefined, access: MetricsAccess): void {
  if (access.token) {
    const presented = authorization && /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
    if (!presented) throw new SwitchboardError('AUTH_KEY_MISSING', 'Send the metrics token as "Authorization: Bearer <token>"');
    if (!timingSafeEqual(digest(presented), digest(access.token))) throw new SwitchboardError('AUTH_KEY_INVALID', 'Wrong metrics token');
    return;
  }
  if (!isLoopbackAddress(access.bindHost)) {
    throw new SwitchboardError('METRICS_TOKEN_REQUIRED', 'This server listens beyond loopback: set --metrics-token (SWITCHBOARD_METRICS_TOKEN) to serve /metrics');
  }
}

export function metricsRoute(metrics: Metrics, access: MetricsAccess): (app: Express) => void {
  return (app) => {
    app.get('/metrics', async (req, res) => {
      checkMetricsAccess(req.headers.authorization, access);
      const body = await metrics.render();
      res.setHeader('Content-Type', metrics.contentType);
      res.setHeader('Cache-Control', 'no-store');
      res.send(body);
    });
  };
}
