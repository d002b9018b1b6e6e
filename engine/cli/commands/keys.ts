/**
 * `switchboard keys`: API keys in the server's store (the SQLite file in
 * --data, or PostgreSQL with --database). A key is made only for an account
 * some manifest declares, read from the personas directory the server reads
 * (--personas, SWITCHBOARD_PERSONAS): a key for a misspelt account would be
 * refused on every call with nothing said at creation. --force makes one
 * ahead of the account's manifest, with a warning.
 */
import { ApiKeyStore, KEY_ROLES, type ApiKeyRecord, type KeyRole } from '../../auth/api-keys.ts';
import { systemClock } from '../../clock.ts';
import { resolveSettings } from '../../config.ts';
import { SwitchboardError } from '../../errors.ts';
import { type CliIO, databaseFlag, dataFlag, EXIT, jsonFlag, parseFlags, personasFlag, print, printJson, requireFlag, table } from '../command.ts';
import { loadCliManifests, openCliStore } from '../open.ts';

const when = (ms: number | null) => (ms ? new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z') : '-');

const publicRecord = (record: ApiKeyRecord) => ({
  id: record.id,
  account: record.accountId,
  role: record.role,
  name: record.name,
  createdAt: when(record.createdAt),
  revokedAt: record.revokedAt ? when(record.revokedAt) : null,
  lastUsedAt: record.lastUsedAt ? when(record.lastUsedAt) : null,
});

/** Refuses an account no manifest declares, or warns about it with --force. */
async function checkAccount(accountId: string, flags: { personas?: string | undefined; force?: boolean | undefined }, io: CliIO): Promise<void> {
  const snapshot = await loadCliManifests(flags.personas, io);
  if (snapshot.accounts.has(accountId)) return;
  const dir = resolveSettings(flags.personas ? { personas: flags.personas } : {}, io.env, io.cwd).personasDir;
  const tree = snapshot.problems.find((problem) => problem.file === '.');
  const found = snapshot.accounts.size ? `accounts there: ${[...snapshot.accounts.keys()].sort().join(', ')}` : tree ? tree.message.replace(/;.*$/, '') : 'no account there';
  const fact = `no manifest declares account "${accountId}" in ${dir} (${found})`;
  if (flags.force) {
    print(io.stderr, `warning: ${fact}; the key is created anyway (--force) and is accepted once a manifest declares the account`);
    return;
  }
  throw new SwitchboardError('BAD_REQUEST', `${fact}. Check the spelling, point --personas or SWITCHBOARD_PERSONAS at the manifests the server serves, or give --force to create the key before the account is deployed`);
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const [action, ...rest] = argv;
  const { values, positionals } = parseFlags(rest, { ...dataFlag, ...databaseFlag, ...jsonFlag, ...personasFlag, account: { type: 'string' }, role: { type: 'string' }, name: { type: 'string' }, force: { type: 'boolean' } });
  // Checked before the database is opened: a refused create leaves nothing behind.
  if (action === 'create') {
    const role = values.role ?? 'mcp';
    if (!KEY_ROLES.includes(role as KeyRole)) throw new SwitchboardError('BAD_REQUEST', `--role must be one of ${KEY_ROLES.join(', ')}`);
    await checkAccount(requireFlag(values.account, 'account'), values, io);
  }
  const store = await openCliStore(values, io);
  try {
    const keys = new ApiKeyStore(store, systemClock);
    switch (action) {
      case 'create': {
        const role = (values.role ?? 'mcp') as KeyRole;
        const { record, key } = await keys.create({ accountId: requireFlag(values.account, 'account'), role, ...(values.name ? { name: values.name } : {}) });
        if (values.json) printJson(io.stdout, { ...publicRecord(record), key });
        else print(io.stdout, `Created ${record.role} key ${record.id} for account ${record.accountId}. It is shown only now:\n${key}`);
        return EXIT.ok;
      }
      case 'list': {
        const records = await keys.list(values.account);
        if (values.json) printJson(io.stdout, records.map(publicRecord));
        else if (!records.length) print(io.stdout, 'No API keys.');
        else
          print(
            io.stdout,
            table([
              ['ID', 'ACCOUNT', 'ROLE', 'NAME', 'CREATED', 'LAST USED', 'REVOKED'],
              ...records.map((r) => [r.id, r.accountId, r.role, r.name ?? '-', when(r.createdAt), when(r.lastUsedAt), when(r.revokedAt)]),
            ]),
          );
        return EXIT.ok;
      }
      case 'revoke': {
        const id = positionals[0];
        if (!id) throw new SwitchboardError('BAD_REQUEST', 'give the id of the key to revoke: switchboard keys revoke ID');
        const record = await keys.revoke(id);
        if (!record) throw new SwitchboardError('BAD_REQUEST', `no key has id ${id}`);
        if (values.json) printJson(io.stdout, publicRecord(record));
        else print(io.stdout, `Revoked key ${record.id} of account ${record.accountId}.`);
        return EXIT.ok;
      }
      default:
        throw new SwitchboardError('BAD_REQUEST', `unknown action "${action ?? ''}"; use create, list or revoke`);
    }
  } finally {
    await store.close();
  }
}
