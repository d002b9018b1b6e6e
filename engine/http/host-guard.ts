/**
 * DNS-rebinding protection. A browser tricked into resolving an attacker's
 * name to this server's address sends the attacker's name as Host and its
 * page as Origin; both are checked against allow-lists. On a loopback bind
 * the localhost names are allowed; on other binds the operator names the
 * hosts (without a list every Host is accepted and a warning is logged at
 * start). Requests without Origin (every non-browser client) pass the Origin check.
 */
import type { NextFunction, Request, Response } from 'express';

import { SwitchboardError } from '../errors.ts';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1', '[::1]'];

export const isLoopbackAddress = (host: string): boolean => host === 'localhost' || host === '::1' || host.startsWith('127.');

export interface HostGuardOptions {
  bindHost: string;
  allowedHosts: string[];
  allowedOrigins: string[];
}

/** Host header to a bare host name: "Example.com:9443" -> "example.com", "[::1]:80" -> "[::1]". */
export function hostnameOf(hostHeader: string): string {
  const value = hostHeader.trim().toLowerCase();
  if (value.startsWith('[')) return value.slice(0, value.indexOf(']') + 1);
  return value.split(':')[0] ?? '';
}

export function hostGuard(options: HostGuardOptions) {
  const loopback = isLoopbackAddress(options.bindHost);
  const configured = options.allowedHosts.map((host) => host.toLowerCase());
  const hosts = new Set([...(loopback ? LOOPBACK_NAMES : []), ...configured]);
  const checkHost = loopback || configured.length > 0;
  const origins = new Set([...(loopback ? LOOPBACK_NAMES : []), ...configured, ...options.allowedOrigins.map((origin) => origin.toLowerCase())]);

  return (req: Request, _res: Response, next: NextFunction): void => {
    if (checkHost) {
      const host = req.headers.host;
      if (!host || !hosts.has(hostnameOf(host))) {
        next(new SwitchboardError('HOST_NOT_ALLOWED', `Host ${host ?? '(none)'} is not allowed; add it to --allowed-hosts`));
        return;
      }
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== 'null') {
      let originHost: string;
      try {
        originHost = new URL(origin).hostname.toLowerCase();
      } catch {
        originHost = '';
      }
      if (!origins.has(originHost) && !origins.has(`[${originHost}]`)) {
        next(new SwitchboardError('ORIGIN_NOT_ALLOWED', `Origin ${origin} is not allowed; add its host to --allowed-origins`));
        return;
      }
    } else if (origin === 'null') {
      next(new SwitchboardError('ORIGIN_NOT_ALLOWED', 'Origin null is not allowed'));
      return;
    }
    next();
  };
}
