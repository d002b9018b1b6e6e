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
  const limit = raw === undefined ? fallback : /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(limit >= 1 && limit <= max)) throw new SwitchboardError('BAD_REQUEST', `limit must be a whole number from 1 to ${max}, got "${raw}"`);
  return { limit, cursor: queryParam(req, 'cursor', CURSOR_MAX_LENGTH) || undefined };
}

/** Refuses a query parameter the endpoint does not take, so that a mistyped filter never silently returns everything. */
export function onlyQueryParams(req: Request, names: readonly string[]): void {
  const unknown = Object.keys(req.query).find((name) => !names.includes(name));
  if (unknown !== undefined) throw new SwitchboardError('BAD_REQUEST', `unknown query parameter ${unknown.slice(0, 64)}; this endpoint takes ${names.join(', ')}`);
}

/** The {account} of an admin route; the admin guard has checked the key against it. */
export const accountParam = (req: Request): string => String(req.params.account);
