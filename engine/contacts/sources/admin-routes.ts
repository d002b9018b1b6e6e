/**
 * Admin API of contact sources, under /ucp/v2/accounts/{account}:
 *   GET  /contact-sources               status of each configured source
 *   POST /contact-sources/{name}/sync   sync now; body {"full": bool, "wait": bool}, both optional
 * Without wait the answer is 202 as soon as the sync has started (its state
 * is "syncing"); with wait it is 200 once the sync has ended, with its
 * outcome (a failed sync is an outcome too, not an HTTP error).
 */
import type { Request } from 'express';

import type { Clock } from '../../clock.ts';
import { SwitchboardError } from '../../errors.ts';
import { jsonBody } from '../../http/body.ts';
import { accountParam } from '../../http/query.ts';
import type { AccountsInForce } from '../../manifests/entries.ts';
import type { AdminRoutes } from '../../vocabulary/routes.ts';
import type { ContactSourceScheduler } from './scheduler.ts';
import { outcomeJson, sourceStatusJson } from './status.ts';

const bad = (message: string): SwitchboardError => new SwitchboardError('BAD_REQUEST', message);

function readOptions(body: unknown): { full: boolean; wait: boolean } {
  if (body === undefined || body === null) return { full: false, wait: false };
  if (typeof body !== 'object' || Array.isArray(body)) throw bad('send a JSON object such as {"full": true, "wait": true}, or no body');
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => key !== 'full' && key !== 'wait');
  if (unknown.length) throw bad(`unknown field ${unknown.join(', ')}; a sync request has full and wait`);
  for (const key of ['full', 'wait']) if (fields[key] !== undefined && typeof fields[key] !== 'boolean') throw bad(`${key} must be true or false`);
  return { full: fields.full === true, wait: fields.wait === true };
}

/** What the contact-source routes use besides the scheduler: the accounts in force and the clock. */
export interface ContactSourceRoutesContext {
  registry: AccountsInForce;
  services: { clock: Clock };
}

export function contactSourceAdminRoutes(context: ContactSourceRoutesContext, scheduler: ContactSourceScheduler): AdminRoutes {
  const { clock } = context.services;

  const loadedAccount = (req: Request): string => {
    const id = accountParam(req);
    if (!context.registry.current().accounts.has(id)) throw new SwitchboardError('UNKNOWN_ACCOUNT', `account ${id} has no manifest loaded; its contact sources are configured in account.yaml`);
    return id;
  };

  const statusOf = async (accountId: string, name: string) => {
    const source = scheduler.configured(accountId).find((candidate) => candidate.name === name);
    return source ? sourceStatusJson(source, await scheduler.sync.states.get(accountId, name), clock.now()) : undefined;
  };

  return (router) => {
    router.get('/contact-sources', async (req, res) => {
      const accountId = loadedAccount(req);
      const states = new Map((await scheduler.sync.states.forAccount(accountId)).map((state) => [state.source, state]));
      const now = clock.now();
      res.json({ account: accountId, sources: scheduler.configured(accountId).map((source) => sourceStatusJson(source, states.get(source.name), now)) });
    });

    router.post('/contact-sources/:name/sync', async (req, res) => {
      const accountId = loadedAccount(req);
      const name = String(req.params.name);
      const options = readOptions(jsonBody(req));
      const { done } = await scheduler.trigger(accountId, name, { full: options.full });
      if (!options.wait) {
        // The scheduler logs a sync that fails unexpectedly; nobody here waits for it.
        done.catch(() => undefined);
        res.status(202).json({ source: await statusOf(accountId, name) });
        return;
      }
      const outcome = await done;
      res.json({ outcome: outcomeJson(outcome), source: await statusOf(accountId, name) });
    });
  };
}
