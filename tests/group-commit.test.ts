/**
 * Group commit: concurrent writes share one transaction, each answered only
 * once the data is committed (seen from another connection), and a failing
 * write rolls back alone.
 */
import path from 'node:path';

import BetterSqlite3 from 'better-sqlite3';
import { expect, it } from 'vitest';

import { openDatabase } from '../engine/store/database.ts';
import { GroupCommit } from '../engine/store/group-commit.ts';
import { tempDir } from './helpers/server.ts';

it('commits concurrent writes together, answers after the commit, and rolls a failing write back alone', async () => {
  const file = path.join(tempDir('group-commit'), 'test.db');
  const db = openDatabase(file);
  db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE)');
  const insert = db.prepare('INSERT INTO notes (text) VALUES (?)');
  const reader = new BetterSqlite3(file, { readonly: true });
  const count = () => (reader.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n;
  const commits = new GroupCommit(db);

  const visibleAtAnswer: number[] = [];
  const write = (text: string, fail = false) =>
    commits
      .run(() => {
        insert.run(text);
        insert.run(`${text} (second row)`);
        if (fail) throw new Error(`refused ${text}`);
        return text;
      })
      .then((value) => {
        visibleAtAnswer.push(count());
        return value;
      });

  const results = await Promise.allSettled([write('a'), write('b', true), write('c')]);
  expect(results.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message))).toEqual(['a', 'refused b', 'c']);
  // One transaction, committed before anyone was answered: at the first answer another connection already sees both writes.
  expect(visibleAtAnswer).toEqual([4, 4]);
  expect(reader.prepare('SELECT text FROM notes ORDER BY id').all()).toEqual([{ text: 'a' }, { text: 'a (second row)' }, { text: 'c' }, { text: 'c (second row)' }]);

  // A later turn of the event loop gets a transaction of its own.
  await expect(write('a')).rejects.toThrow(/UNIQUE/);
  await write('d');
  expect(count()).toBe(6);
  reader.close();
  db.close();
});
