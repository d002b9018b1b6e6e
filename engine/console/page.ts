/**
 * Serves the console: GET /ucp/v2/console (the page) and
 * GET /ucp/v2/console/{asset} (its scripts, style sheet and icon), all from
 * engine/console/ui in the package, read once at start. No build step and
 * no CDN: the files are hand-written ES modules and CSS that browsers run as
 * they are, so `npm ci && npm start` serves the console with nothing else.
 *
 * Every answer carries a strict Content-Security-Policy: scripts, styles and
 * connections from this origin only, no inline script or style, no frames,
 * no form posts (the forms are handled by script; without it a sign-in form
 * must not send the key anywhere, not even into a URL), no referrer. The
 * page and assets need no key: they hold no data. The console's data comes
 * from the admin API, with the admin key the operator enters.
 *
 * Assets are served gzip-compressed to clients that accept it, with an ETag
 * so a reload revalidates instead of downloading again.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import type { Express, Request, Response } from 'express';

import { SwitchboardError } from '../errors.ts';

export const CONSOLE_PATH = '/ucp/v2/console';
const UI_DIR = path.join(import.meta.dirname, 'ui');

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  type: string;
  body: Buffer;
  gzipped: Buffer;
  etag: string;
}

/** Every file of the console, by name; the page is index.html. */
export function readConsoleAssets(dir = UI_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of fs.readdirSync(dir)) {
    const type = TYPES[path.extname(name)];
    if (!type) continue;
    const body = fs.readFileSync(path.join(dir, name));
    assets.set(name, { type, body, gzipped: gzipSync(body, { level: 9 }), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return assets;
}

function send(req: Request, res: Response, asset: Asset): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  // Revalidated on every load (an upgrade changes the files), answered 304 while unchanged.
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('ETag', asset.etag);
  res.setHeader('Vary', 'Accept-Encoding');
  if (req.headers['if-none-match'] === asset.etag) {
    res.status(304).end();
    return;
  }
  res.setHeader('Content-Type', asset.type);
  const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  if (gzip) res.setHeader('Content-Encoding', 'gzip');
  res.status(200).end(gzip ? asset.gzipped : asset.body);
}

export function consolePageRoutes(assets = readConsoleAssets()): (app: Express) => void {
  const page = assets.get('index.html');
  if (!page) throw new Error(`the console's index.html is missing from ${UI_DIR}`);
  return (app) => {
    app.get(CONSOLE_PATH, (req, res) => send(req, res, page));
    app.get(`${CONSOLE_PATH}/:asset`, (req, res) => {
      const asset = req.params.asset === 'index.html' ? undefined : assets.get(String(req.params.asset));
      if (!asset) throw new SwitchboardError('NOT_FOUND', 'No such file of the console');
      send(req, res, asset);
    });
  };
}
