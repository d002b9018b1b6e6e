/**
 * HTTPS on the server's own port: a certificate and key make it speak TLS,
 * MCP works over it, and SIGHUP (reloadTls) puts a renewed certificate in
 * force for new connections without a restart.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';

import { expect, it } from 'vitest';

import { initializeBody } from './helpers/http.ts';
import { callHeaders, startTestServer, tempDir } from './helpers/server.ts';
import { basicManifests, testToolKinds } from './helpers/test-tools.ts';

function certificate(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}-key.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

function request(url: string, ca: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; subject: string; text: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = https.request(url, { method: body ? 'POST' : 'GET', ca: [ca], agent: false, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers } }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, subject: (response.socket as TLSSocket).getPeerCertificate().subject.CN as string, text }));
    });
    outgoing.on('error', reject);
    outgoing.end(body ? JSON.stringify(body) : undefined);
  });
}

it('serves MCP over TLS and takes a renewed certificate on reload', async () => {
  const dir = tempDir('tls');
  const first = certificate(dir, 'first');
  const renewed = certificate(dir, 'renewed');
  const live = { cert: path.join(dir, 'live.pem'), key: path.join(dir, 'live-key.pem') };
  fs.copyFileSync(first.cert, live.cert);
  fs.copyFileSync(first.key, live.key);
  const server = await startTestServer({ personas: basicManifests, toolKinds: testToolKinds, settings: { tlsCert: live.cert, tlsKey: live.key } });
  try {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await request(`${server.url}/healthz`, fs.readFileSync(first.cert, 'utf8'));
    expect(health).toMatchObject({ status: 200, subject: 'first' });
    const initialize = await request(`${server.url}/ucp/v2/mcp`, fs.readFileSync(first.cert, 'utf8'), initializeBody(), callHeaders({ key: await server.key() }));
    expect(initialize.status).toBe(200);

    fs.copyFileSync(renewed.cert, live.cert);
    fs.copyFileSync(renewed.key, live.key);
    server.running.reloadTls();
    const after = await request(`${server.url}/healthz`, fs.readFileSync(renewed.cert, 'utf8'));
    expect(after).toMatchObject({ status: 200, subject: 'renewed' });
    await expect(request(`${server.url}/healthz`, fs.readFileSync(first.cert, 'utf8'))).rejects.toThrow();
  } finally {
    await server.close();
  }
});
