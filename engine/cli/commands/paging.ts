import { SwitchboardError } from '../../errors.ts';
import type { Options } from '../command.ts';

/** --limit and --cursor of list commands, read like the admin API's query parameters. */
export const pagingFlags = { limit: { type: 'string' }, cursor: { type: 'string' } } as const satisfies Options;

export function readPaging(values: { limit?: string | undefined; cursor?: string | undefined }, max = 1000): { limit: number; cursor: string | undefined } {
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw new SwitchboardError('BAD_REQUEST', `--limit must be a whole number from 1 to ${max}`);
  return { limit, cursor: values.cursor };
}
