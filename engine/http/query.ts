/**
 * Query-string parameters of admin list endpoints, read with errors that say
 * what is allowed (a repeated or malformed parameter is a 400, not a guess).
 */
import type { Request } from 'express';

import { SwitchboardError } from '../errors.ts';

/** A single string parameter, or undefined when absent. */
export function queryParam(req: Request, name: string, maxLength = 500): string | undefined {
  const value = req.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new SwitchboardError('BAD_REQUEST', `query parameter ${name} must be given once`);
  if (value.length > maxLength) throw new SwitchboardError('BAD_REQUEST', `query parameter ${name} must be at most ${maxLength} characters`);
  return value;
}

/**
 * The longest cursor a list hands out: the contacts list's carries the last
 * name of a page, and a name of 200 characters takes at most 3 bytes of UTF-8
 * each, about 830 characters of base64url in all.
 */
export const CURSOR_MAX_LENGTH = 1024;

/** `limit` (1..max, default `fallback`) and the opaque `cursor` of the previous page. */
export function pagingParams(req: Request, fallback = 50, max = 200): { limit: number; cursor: string | undefined } {
  const raw = queryParam(req, 'limit', 10);
  const limit = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw new SwitchboardError('BAD_REQUEST', `limit must be a whole number from 1 to ${max}`);
  return { limit, cursor: queryParam(req, 'cursor', CURSOR_MAX_LENGTH) || undefined };
}

/** The {account} of an admin route; the admin guard has checked the key against it. */
export const accountParam = (req: Request): string => String(req.params.account);
