/**
 * The checksum `switchboard migrate` compares: SHA-256 over a table's rows
 * in primary-key order, each row written canonically as one JSON array of
 * its values in the table's column order, one per line. Both engines hand
 * the values to JavaScript as the same types (integers, times in ms and ids
 * as numbers, REAL and DOUBLE PRECISION as numbers, text as strings, NULL as
 * null), so the same rows give the same text on either side; a value that
 * changed its type on the way (the text "5" for the number 5) changes the
 * checksum, which is the point.
 */
import { createHash, type Hash } from 'node:crypto';

/** One row as the line the checksum takes. */
export function canonicalRow(values: readonly unknown[]): string {
  return `${JSON.stringify(values.map(canonicalValue))}\n`;
}

function canonicalValue(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') return { int: value.toString() };
  // JSON has no NaN or Infinity; neither engine keeps them in these schemas, but they must not collide with null.
  if (typeof value === 'number' && !Number.isFinite(value)) return { number: String(value) };
  if (Buffer.isBuffer(value)) return { blob: value.toString('hex') };
  if (value instanceof Uint8Array) return { blob: Buffer.from(value).toString('hex') };
  return value;
}

/** Rows counted and hashed as they pass. */
export class TableDigest {
  private readonly hash: Hash = createHash('sha256');
  rows = 0;

  add(row: readonly unknown[]): void {
    this.hash.update(canonicalRow(row));
    this.rows += 1;
  }

  hex(): string {
    return this.hash.digest('hex');
  }
}
