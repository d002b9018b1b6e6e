/**
 * The routes a running server really has, read from its Express app: method
 * and path template (`:param` written `{param}` as OpenAPI does), mounted
 * routers included. The app is found through Node's `http.server.request.start`
 * diagnostics channel, which names the HTTP server of a request; its request
 * listener is the app. So the server under test is not changed for testing.
 */
import diagnostics from 'node:diagnostics_channel';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RouteEntry {
  method: string;
  path: string;
}

interface Layer {
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  rawPath?: unknown;
}

/** The request listener (the Express app) of the HTTP server at `url`, caught on one request. */
async function appAt(url: string): Promise<{ router: { stack: Layer[] } }> {
  const port = Number(new URL(url).port);
  let app: unknown;
  const onRequest = (message: unknown): void => {
    const { server } = message as { server: Server };
    if ((server.address() as AddressInfo | null)?.port === port) app ??= server.listeners('request')[0];
  };
  diagnostics.subscribe('http.server.request.start', onRequest);
  try {
    await (await fetch(new URL('/healthz', url))).arrayBuffer();
  } finally {
    diagnostics.unsubscribe('http.server.request.start', onRequest);
  }
  const router = (app as { router?: { stack?: Layer[] } } | undefined)?.router;
  if (!router?.stack) throw new Error(`no Express app found at ${url}`);
  return app as { router: { stack: Layer[] } };
}

const template = (path: string): string => path.replace(/:(\w+)/g, '{$1}');

/** Every route of the app: `all` routes are listed with method `*`. */
export async function routesOf(url: string): Promise<RouteEntry[]> {
  const found: RouteEntry[] = [];
  const walk = (stack: Layer[], prefix: string): void => {
    for (const layer of stack) {
      if (layer.route) {
        if (typeof layer.route.path !== 'string') throw new Error(`route path ${String(layer.route.path)} is not a string`);
        for (const method of Object.keys(layer.route.methods)) found.push({ method: method === '_all' ? '*' : method, path: template(prefix + layer.route.path) });
      } else if (layer.handle?.stack) {
        if (typeof layer.rawPath !== 'string') throw new Error(`router mounted at ${String(layer.rawPath)}, not a string`);
        walk(layer.handle.stack, prefix + (layer.rawPath === '/' ? '' : layer.rawPath));
      }
    }
  };
  walk((await appAt(url)).router.stack, '');
  return found;
}
