/**
 * A loopback HTTP proxy that adds Switchboard's API key and call-context
 * headers to every request, for clients that cannot send custom headers
 * (the MCP conformance suite). Host, Origin and every other header pass
 * through unchanged, so Host/Origin validation is still tested; responses,
 * SSE streams included, are piped back as they arrive.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HeaderProxy {
  url: string;
  close(): Promise<void>;
}

export async function startHeaderProxy(target: string, extraHeaders: Record<string, string>): Promise<HeaderProxy> {
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, ...extraHeaders } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
