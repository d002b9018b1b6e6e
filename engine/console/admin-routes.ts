/**
 * The admin endpoints the console reads besides the ones every admin client
 * has (users and DND, calls, leads, the audit trail), mounted under
 * /ucp/v2/accounts/{account} behind the admin key of that account:
 *
 *   GET  /manifests                                  the account's manifests as loaded, their problems, the git commit
 *   GET  /phone-system                               the account's phone-system connection as this node sees it
 *   GET  /personas/{persona}/tools                   the exact tools/list a client of the persona gets
 *   POST /personas/{persona}/tools/{tool}/try        run one tool as the persona with a test call id
 *   GET  /changes                                    server-sent events: which lists changed (changes-route.ts)
 *
 * They show and try; nothing here changes a manifest (configuration stays in git).
 */
import { randomBytes } from 'node:crypto';

import type { Request, Response } from 'express';

import type { CallControl } from '../calls/control.ts';
import type { ServerSettings } from '../config.ts';
import { SwitchboardError } from '../errors.ts';
import { adminKeyOf } from '../http/admin-key.ts';
import { jsonBody } from '../http/body.ts';
import { accountParam, onlyQueryParams } from '../http/query.ts';
import type { GitHead } from '../manifests/git-head.ts';
import type { Registry } from '../manifests/registry.ts';
import { findPersona } from '../manifests/snapshot.ts';
import type { AdminRoutes } from '../vocabulary/routes.ts';
import type { ChangeStreams } from './changes-route.ts';
import { manifestsView } from './manifests-view.ts';
import { readTryRequest, runTry, type TryDeps } from './try-tool.ts';

export interface ConsoleRouteDeps {
  context: { registry: Pick<Registry, 'current'>; services: { calls: CallControl }; settings: Pick<ServerSettings, 'nodeName'> };
  streams: ChangeStreams;
  tries: TryDeps;
  /** The git commit the manifests directory was checked out at when the snapshot in force was loaded. */
  gitHead(): Promise<GitHead | null>;
}

const personaParam = (req: Request): string => String(req.params.persona);

/** A test call id: recognisable in the audit trail, and new for every try that names none. */
const testCallId = (): string => `try-${randomBytes(6).toString('hex')}`;

export function consoleAdminRoutes(deps: ConsoleRouteDeps): AdminRoutes {
  const { context } = deps;
  return (router) => {
    deps.streams.mount(router);

    router.get('/manifests', async (req: Request, res: Response) => {
      onlyQueryParams(req, []);
      res.json(manifestsView(context.registry.current(), accountParam(req), await deps.gitHead()));
    });

    router.get('/phone-system', (req: Request, res: Response) => {
      onlyQueryParams(req, []);
      const accountId = accountParam(req);
      const calls = context.services.calls;
      const health = calls.healthOf(accountId);
      res.json({
        account_id: accountId,
        driver: calls.settingsOf(accountId)?.driver ?? null,
        state: health.state,
        reason: health.reason,
        since: new Date(health.since).toISOString(),
        node: context.settings.nodeName,
      });
    });

    router.get('/personas/:persona/tools', (req: Request, res: Response) => {
      onlyQueryParams(req, []);
      const accountId = accountParam(req);
      const personaId = personaParam(req);
      const persona = findPersona(context.registry.current(), accountId, personaId);
      if (!persona) throw new SwitchboardError('UNKNOWN_PERSONA', `Persona "${personaId}" is not configured for account "${accountId}"`);
      const custom = new Map((persona.manifest.tools ?? []).map((entry) => [entry.name, entry.type as string]));
      res.json({
        account_id: accountId,
        persona_id: personaId,
        tool_schema_profile: persona.catalog.schemaProfile,
        tools_list: persona.catalog.listResult,
        tool_types: Object.fromEntries(persona.catalog.listResult.tools.map((tool) => [tool.name, custom.get(tool.name) ?? 'global'])),
      });
    });

    router.post('/personas/:persona/tools/:tool/try', async (req: Request, res: Response) => {
      onlyQueryParams(req, []);
      const request = readTryRequest(jsonBody(req), testCallId);
      // A client that goes away cancels the try as a voice agent's cancellation would.
      const abandoned = new AbortController();
      res.on('close', () => {
        if (!res.writableFinished) abandoned.abort();
      });
      res.json(await runTry(deps.tries, adminKeyOf(res), accountParam(req), personaParam(req), String(req.params.tool), request, abandoned.signal));
    });
  };
}
