/**
 * The listening socket, bound first when the server starts: before the
 * database is opened, migrations and retention run or the manifests are
 * read. A port that is taken is the most common reason a start fails, and
 * finding it out last meant work done for nothing and a raw EADDRINUSE
 * stack; bound first, the start stops at once with one sentence that names
 * the port and the setting that changes it.
 *
 * Binding the real socket (rather than trying the port and letting go)
 * leaves no moment for another process to take it in between. Requests that
 * arrive before the application is handed over are answered 503 with
 * Retry-After, like a node that is not ready.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

import type { ServerSettings } from '../config.ts';
import { errorBody, SwitchboardError } from '../errors.ts';
import type { TlsFiles } from '../startup-files.ts';

export interface Listener {
  readonly server: http.Server;
  readonly port: number;
  /** scheme://host:port as a client on this machine reaches it. */
  readonly url: string;
  readonly tls: boolean;
  /** Hands every request from now on to `handler`. */
  serve(handler: http.RequestListener): void;
  /** Gives the port up, for a start that failed after binding. */
  close(): Promise<void>;
}

const PORT_SETTING = '--port or SWITCHBOARD_PORT';
const HOST_SETTING = '--host or SWITCHBOARD_HOST';

/** Why the socket could not be bound, said for the operator. */
export function listenFailure(error: unknown, host: string, port: number): SwitchboardError {
  const code = String((error as NodeJS.ErrnoException | null)?.code ?? 'error');
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const message =
    code === 'EADDRINUSE'
      ? `port ${port} on ${host} is already in use, by another switchboard or another program: stop that one, or choose a free port with ${PORT_SETTING}`
      : code === 'EACCES' || code === 'EPERM'
        ? `port ${port} on ${host} needs privileges this user does not have (${code}): choose a port above 1023 with ${PORT_SETTING} (9443 is the default), with a proxy in front if clients must reach 443`
        : code === 'EADDRNOTAVAIL'
          ? `cannot listen on ${host}: it is not an address of this machine (${code}); set ${HOST_SETTING} to one of its addresses, 127.0.0.1 or 0.0.0.0`
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME'
            ? `cannot listen on ${host}: the name does not resolve (${code}); set ${HOST_SETTING} to an address such as 127.0.0.1 or 0.0.0.0`
            : `cannot listen on ${where} (${code}): check ${HOST_SETTING} and ${PORT_SETTING}`;
  return new SwitchboardError('LISTEN_FAILED', message, { cause: error, details: { host, port, code } });
}

const starting: http.RequestListener = (_req, res) => {
  res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1', connection: 'close' });
  res.end(JSON.stringify(errorBody(new SwitchboardError('STARTING', 'The server is starting; try again in a moment'))));
};

export async function bindListener(settings: Pick<ServerSettings, 'host' | 'port' | 'requestTimeoutSeconds'>, tls: TlsFiles | undefined): Promise<Listener> {
  // Node's request timeout covers receiving a request (headers and body), not the answer: a voice agent's
  // event stream stays open for a whole call, while a client that sends a body slowly or not at all is
  // answered 408 and cut off. Expired requests are looked for every second, not every 30 s.
  const requestTimeoutMs = settings.requestTimeoutSeconds * 1000;
  const timeouts = { requestTimeout: requestTimeoutMs, headersTimeout: requestTimeoutMs, connectionsCheckingInterval: Math.min(1000, requestTimeoutMs) };
  const server: http.Server = tls ? https.createServer({ ...tls, ...timeouts }) : http.createServer(timeouts);
  server.keepAliveTimeout = 65_000;
  server.on('request', starting);
  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error) => reject(listenFailure(error, settings.host, settings.port));
    server.once('error', failed);
    server.listen(settings.port, settings.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = settings.host.includes(':') ? `[${settings.host}]` : settings.host === '0.0.0.0' ? '127.0.0.1' : settings.host;
  let handler: http.RequestListener = starting;
  return {
    server,
    port,
    url: `${tls ? 'https' : 'http'}://${hostForUrl}:${port}`,
    tls: Boolean(tls),
    serve(next) {
      server.off('request', handler);
      handler = next;
      server.on('request', handler);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
