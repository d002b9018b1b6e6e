/**
 * A bound on the nesting of request bodies. JSON.parse accepts arrays nested
 * tens of thousands deep, but the validators behind it recurse and would run
 * out of stack; no MCP message or admin request needs more than a few levels.
 * The walk is iterative, so the check itself cannot overflow.
 */
import type { NextFunction, Request, Response } from 'express';

import { SwitchboardError } from '../errors.ts';

export const MAX_JSON_DEPTH = 64;

export function jsonDepthExceeds(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (current === null || typeof current !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

export function jsonDepthGuard(limit = MAX_JSON_DEPTH) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    if (req.body !== undefined && jsonDepthExceeds(req.body, limit)) {
      next(new SwitchboardError('BODY_TOO_DEEP', `Request body is nested more than ${limit} levels deep`));
      return;
    }
    next();
  };
}
