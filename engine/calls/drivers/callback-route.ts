/**
 * POST /ucp/v2/pbx/{account}/{driver}/{path}: where phone systems that call
 * back (Twilio's <Dial action>, Telnyx's webhooks) report what became of a
 * command. There is no API key on this route: the phone system cannot send
 * one. The account's driver checks the request's signature over its raw
 * body and the URL it was sent to, and anything it does not recognise is
 * refused; a driver of another name, or one without callbacks, is a 404.
 *
 * The body is read raw (up to 64 KiB) before any parser, because signatures
 * cover the bytes as sent. The answer leaves once what the callback reported
 * (a verdict, the end of the call) is written: a phone system that got its
 * 200 may rely on it.
 */
import express, { type Express, type Request, type Response } from 'express';

import { SwitchboardError } from '../../errors.ts';
import type { Logger } from '../../logging.ts';
import type { DriverPool } from './pool.ts';

export const PBX_CALLBACK_PREFIX = '/ucp/v2/pbx';
const MAX_CALLBACK_BYTES = 64 * 1024;
const ACCOUNT = /^[A-Za-z0-9_.-]{1,64}$/;

/** Resolves once the account's driver reports made so far are written (CallControl.reportsWritten). */
export type ReportsWritten = (accountId: string) => Promise<void>;

export function pbxCallbackRoute(pool: DriverPool, publicUrl: string | undefined, log: Logger, written: ReportsWritten = () => Promise.resolve()): (app: Express) => void {
  return (app) => {
    app.post(`${PBX_CALLBACK_PREFIX}/:account/:driver/{*rest}`, express.raw({ type: () => true, limit: MAX_CALLBACK_BYTES }), async (req: Request, res: Response) => {
      const account = String(req.params.account);
      const entry = ACCOUNT.test(account) ? pool.of(account) : undefined;
      if (!entry || entry.name !== req.params.driver || !entry.driver.callback) throw new SwitchboardError('NOT_FOUND', 'No such endpoint');
      const prefix = `${PBX_CALLBACK_PREFIX}/${account}/${entry.name}/`;
      const [pathPart = '', query = ''] = req.originalUrl.split('?', 2);
      // Signatures cover the URL the phone system was given: the configured public URL, else what this request says it was sent to.
      const base = publicUrl ?? `${req.protocol}://${req.headers.host ?? 'localhost'}`;
      const answer = await entry.driver
        .callback({
          path: pathPart.startsWith(prefix) ? decodeURIComponent(pathPart.slice(prefix.length)) : '',
          url: `${base}${req.originalUrl}`,
          query: new URLSearchParams(query),
          headers: req.headers,
          body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
        })
        .catch((error: unknown) => {
          log.error({ err: error, event: 'pbx_callback_failed', account, driver: entry.name }, 'a phone-system callback failed');
          return { status: 500, contentType: 'text/plain', body: 'internal error' };
        });
      await written(account);
      res.status(answer.status);
      if (answer.contentType) res.type(answer.contentType);
      res.send(answer.body ?? '');
    });
  };
}
