/**
 * Admin API of leads, under /ucp/v2/accounts/{account}:
 *   GET /leads?limit=&cursor=   newest leads first, each with its cases
 *   GET /leads?format=csv       every case with its lead, as a CSV download
 * The admin key of the account has been checked before these run.
 */
import { once } from 'node:events';

import { SwitchboardError } from '../errors.ts';
import { accountParam, onlyQueryParams, pagingParams, queryParam } from '../http/query.ts';
import type { AdminRoutes } from '../vocabulary/routes.ts';
import { csvHeader, csvRow, leadJson } from './present.ts';
import type { LeadStore } from './store.ts';

export function leadAdminRoutes(services: { leads: LeadStore }): AdminRoutes {
  return (router) => {
    router.get('/leads', async (req, res) => {
      onlyQueryParams(req, ['format', 'limit', 'cursor']);
      const account = accountParam(req);
      const format = queryParam(req, 'format') ?? 'json';
      if (format === 'json') {
        const page = await services.leads.list(account, pagingParams(req));
        res.json({ leads: page.leads.map(leadJson), next_cursor: page.nextCursor });
        return;
      }
      if (format !== 'csv') throw new SwitchboardError('BAD_REQUEST', 'format must be json or csv');
      res.status(200);
      res.setHeader('Content-Type', 'text/csv; charset=utf-8');
      res.setHeader('Content-Disposition', `attachment; filename="leads-${account}.csv"`);
      res.write(csvHeader());
      for await (const page of services.leads.exportCases(account)) {
        // Wait for a slow client between pages; stop when it has gone away.
        if (!res.write(page.map(csvRow).join(''))) await Promise.race([once(res, 'drain'), once(res, 'close')]);
        if (res.destroyed) return;
      }
      res.end();
    });
  };
}
