/**
 * The admin key a request was let in with, kept on the response by the admin
 * guard (engine/http/app.ts) for the routes behind it, which record who made
 * a change. Its own module, so that a capability's routes read the key
 * without importing the HTTP application that mounts them.
 */
import type { Response } from 'express';

import type { ApiKeyRecord } from '../auth/api-keys.ts';

/** Kept by the admin guard once the key is checked. */
export function rememberAdminKey(res: Response, record: ApiKeyRecord): void {
  res.locals.adminKey = record;
}

/** The admin key of a request, set by the admin guard. */
export const adminKeyOf = (res: Response): ApiKeyRecord => res.locals.adminKey as ApiKeyRecord;
