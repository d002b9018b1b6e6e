/**
 * GET /ucp/v2/accounts/{account}/audit: the account's audit rows, newest
 * first, filtered and paged like `switchboard audit`. The admin guard has
 * already checked that the key belongs to {account}; the query is bound to
 * that account, so no filter can reach another tenant's rows.
 */
import type { Request } from 'express';

import type { Clock } from '../clock.ts';
import { SwitchboardError } from '../errors.ts';
import type { AdminRoutes } from '../vocabulary/routes.ts';
import type { AuditLog } from './audit-log.ts';
import { AUDIT_FILTERS, pageJson, parseAuditFilters, type RawAuditFilters } from './query.ts';

function filtersOf(req: Request): RawAuditFilters {
  const raw: RawAuditFilters = {};
  for (const [name, value] of Object.entries(req.query)) {
    if (!(AUDIT_FILTERS as readonly string[]).includes(name)) {
      throw new SwitchboardError('BAD_REQUEST', `unknown query parameter ${name}; the audit filters are ${AUDIT_FILTERS.join(', ')}`);
    }
    if (typeof value !== 'string') throw new SwitchboardError('BAD_REQUEST', `query parameter ${name} must be given once`);
    raw[name as keyof RawAuditFilters] = value;
  }
  return raw;
}

export function auditRoutes(audit: AuditLog, clock: Clock): AdminRoutes {
  return (router) => {
    router.get('/audit', async (req, res) => {
      const query = parseAuditFilters(String((req.params as { account?: string }).account), filtersOf(req), clock.now());
      res.json(pageJson(await audit.query(query)));
    });
  };
}
