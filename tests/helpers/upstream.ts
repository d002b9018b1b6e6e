/**
 * A real HTTP server standing in for a persona author's API: it records
 * every request exactly as it arrived on the wire (raw path, headers, body)
 * and answers what the test tells it to. By default it echoes the request
 * back as JSON.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** The request target as sent: path and query, still percent-encoded. */
  target: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface UpstreamReply {
  status?: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON. */
  body?: string | object;
  /** Wait before answering. */
  delayMs?: number;
  /** Drop the connection without an answer. */
  hangUp?: boolean;
  /** Send the body in chunks without Content-Length. */
  chunked?: boolean;
}

export type UpstreamHandler = (request: RecordedRequest, index: number) => UpstreamReply;

export interface Upstream {
  readonly host: string;
  readonly port: number;
  /** http://host:port */
  readonly base: string;
  readonly requests: RecordedRequest[];
  /** Sets how the next requests are answered and forgets the recorded ones. */
  reset(handler?: UpstreamHandler): void;
  close(): Promise<void>;
}

export const echo: UpstreamHandler = (request) => ({ body: { method: request.method, target: request.target, headers: request.headers, body: request.body } });

export async function startUpstream(host = '127.0.0.1', initial: UpstreamHandler = echo): Promise<Upstream> {
  let handler = initial;
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = { method: req.method ?? '', target: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(recorded);
      const reply = handler(recorded, requests.length - 1);
      const send = () => {
        if (reply.hangUp) {
          req.socket.destroy();
          return;
        }
        const isText = typeof reply.body === 'string' || reply.body === undefined;
        const payload = reply.body === undefined ? '' : isText ? (reply.body as string) : JSON.stringify(reply.body);
        const headers = { ...(isText ? {} : { 'content-type': 'application/json' }), ...reply.headers };
        if (reply.chunked) {
          res.writeHead(reply.status ?? 200, headers);
          for (let offset = 0; offset < payload.length; offset += 1000) res.write(payload.slice(offset, offset + 1000));
          res.end();
          return;
        }
        res.writeHead(reply.status ?? 200, { ...headers, 'content-length': Buffer.byteLength(payload) });
        res.end(payload);
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host,
    port,
    base: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    requests,
    reset(next = echo) {
      handler = next;
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
