/**
 * What the start checks before it opens anything: the port, bound first and
 * answering 503 "starting" until the application is handed over; why a bind
 * failed, in words for each cause; TLS files that do not go together.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { resolveSettings } from '../engine/config.ts';
import { bindListener, listenFailure } from '../engine/http/listener.ts';
import { readTlsFiles } from '../engine/startup-files.ts';
import { tempDir } from './helpers/server.ts';

describe('the listener', () => {
  it('answers 503 STARTING with Retry-After until the application is handed over', async () => {
    const listener = await bindListener({ ...resolveSettings({}, {}), port: 0 }, undefined);
    try {
      expect(listener.url).toBe(`http://127.0.0.1:${listener.port}`);
      const early = await fetch(new URL('/readyz', listener.url));
      expect(early.status).toBe(503);
      expect(early.headers.get('retry-after')).toBe('1');
      expect(await early.json()).toEqual({ error: { code: 'STARTING', message: 'The server is starting; try again in a moment' } });

      listener.serve((_req, res) => res.end('served'));
      expect(await (await fetch(new URL('/readyz', listener.url))).text()).toBe('served');
    } finally {
      await listener.close();
    }
  });

  it.each([
    ['EADDRINUSE', 'port 9443 on 127.0.0.1 is already in use, by another switchboard or another program: stop that one, or choose a free port with --port or SWITCHBOARD_PORT'],
    ['EACCES', 'port 9443 on 127.0.0.1 needs privileges this user does not have (EACCES): choose a port above 1023 with --port or SWITCHBOARD_PORT (9443 is the default), with a proxy in front if clients must reach 443'],
    ['EADDRNOTAVAIL', 'cannot listen on 127.0.0.1: it is not an address of this machine (EADDRNOTAVAIL); set --host or SWITCHBOARD_HOST to one of its addresses, 127.0.0.1 or 0.0.0.0'],
    ['ENOTFOUND', 'cannot listen on 127.0.0.1: the name does not resolve (ENOTFOUND); set --host or SWITCHBOARD_HOST to an address such as 127.0.0.1 or 0.0.0.0'],
    ['EMFILE', 'cannot listen on 127.0.0.1:9443 (EMFILE): check --host or SWITCHBOARD_HOST and --port or SWITCHBOARD_PORT'],
  ])('says why a bind failed with %s', (code, message) => {
    const error = listenFailure(Object.assign(new Error(code), { code }), '127.0.0.1', 9443);
    expect(error.code).toBe('LISTEN_FAILED');
    expect(error.message).toBe(message);
  });
});

describe('TLS files', () => {
  const certificate = (dir: string, name: string) => {
    const cert = path.join(dir, `${name}.pem`);
    const key = path.join(dir, `${name}-key.pem`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
    return { cert, key };
  };

  it('are read when they go together, and refused naming both when the key is of another certificate', () => {
    const dir = tempDir('startup-tls');
    const one = certificate(dir, 'one');
    const other = certificate(dir, 'other');
    expect(readTlsFiles({ tlsCert: one.cert, tlsKey: one.key })?.cert.toString()).toContain('BEGIN CERTIFICATE');
    expect(() => readTlsFiles({ tlsCert: one.cert, tlsKey: other.key })).toThrow(
      `the TLS certificate ${one.cert} and key ${other.key} cannot be used: the private key does not belong to the certificate. Give --tls-cert (SWITCHBOARD_TLS_CERT) the PEM certificate chain (fullchain.pem) and --tls-key (SWITCHBOARD_TLS_KEY) its PEM private key (privkey.pem)`,
    );
    expect(readTlsFiles({ tlsCert: undefined, tlsKey: undefined })).toBeUndefined();
  });
});
