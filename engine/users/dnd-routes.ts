/**
 * Admin API for users and their Do-Not-Disturb state, mounted under
 * /ucp/v2/accounts/{account} (the admin guard has checked an admin key of
 * that account):
 *
 *   GET    /users                 every user with availability and DND
 *   GET    /users/{user}/dnd      one user's state
 *   PUT    /users/{user}/dnd      set DND; body { "reason"?, "until"? }
 *   DELETE /users/{user}/dnd      clear DND
 *
 * A PBX calls PUT/DELETE when a phone's DND key is pressed. Every answer is
 * the user's state after the request, written before the answer is sent.
 */
import type { Request } from 'express';

import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';
import { adminKeyOf } from '../http/admin-key.ts';
import { jsonBody } from '../http/body.ts';
import type { AccountEntry, AccountsInForce } from '../manifests/entries.ts';
import type { AdminRoutes } from '../vocabulary/routes.ts';
import { availabilityView, requireUser } from './availability.ts';
import { readDndInput } from './dnd-input.ts';
import type { DndStore } from './dnd-store.ts';

/** What the DND routes use: the accounts in force, the DND store and the clock. */
export interface DndRoutesContext {
  registry: AccountsInForce;
  services: { dnd: DndStore; clock: Clock };
}

function accountOf(context: DndRoutesContext, req: Request): AccountEntry {
  const id = String(req.params.account);
  const account = context.registry.current().accounts.get(id);
  if (!account) throw new SwitchboardError('UNKNOWN_ACCOUNT', `Account "${id}" is not configured on this server`);
  return account;
}

export function dndAdminRoutes(context: DndRoutesContext): AdminRoutes {
  const { dnd, clock } = context.services;
  return (router) => {
    router.get('/users', async (req, res) => {
      const account = accountOf(context, req);
      const states = await dnd.getMany(account.id, [...account.users.keys()]);
      const users = [...account.users.values()].map((user) => availabilityView(account, user, states.get(user.id)!));
      res.json({ account_id: account.id, users });
    });

    router.get('/users/:user/dnd', async (req, res) => {
      const account = accountOf(context, req);
      const user = requireUser(account, String(req.params.user));
      res.json(availabilityView(account, user, await dnd.get(account.id, user.id)));
    });

    router.put('/users/:user/dnd', async (req, res) => {
      const account = accountOf(context, req);
      const user = requireUser(account, String(req.params.user));
      const input = readDndInput(jsonBody(req), account.manifest.timezone, clock.now());
      const state = await dnd.set(account.id, user.id, { enabled: true, reason: input.reason, until: input.until, by: `api:${adminKeyOf(res).id}` });
      res.json(availabilityView(account, user, state));
    });

    router.delete('/users/:user/dnd', async (req, res) => {
      const account = accountOf(context, req);
      const user = requireUser(account, String(req.params.user));
      res.json(availabilityView(account, user, await dnd.clear(account.id, user.id, `api:${adminKeyOf(res).id}`)));
    });
  };
}
