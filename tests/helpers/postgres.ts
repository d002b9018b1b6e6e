/**
 * PostgreSQL for the tests: the server tests/global-setup.ts started (or the
 * one SWITCHBOARD_TEST_DATABASE_URL names), and a fresh database in it per
 * test, so tests never see each other's rows.
 */
import { randomBytes } from 'node:crypto';

import pg from 'pg';

export function postgresUrl(): string {
  const url = process.env.SWITCHBOARD_TEST_DATABASE_URL;
  if (!url) throw new Error('SWITCHBOARD_TEST_DATABASE_URL is not set: a test that needs PostgreSQL runs in npm run test:postgres (or test:cluster), whose tests/global-setup.ts starts it (.ci/postgres.sh); npm test runs without it');
  return url;
}

/** A new, empty database; `drop` removes it (connections to it are ended first). */
export async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = new URL(postgresUrl());
  const name = `sb_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base.toString() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base.toString());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: base.toString() });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
