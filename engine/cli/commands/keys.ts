import { ApiKeyStore, KEY_ROLES, type ApiKeyRecord, type KeyRole } from '../../auth/api-keys.ts';
import { systemClock } from '../../clock.ts';
import { SwitchboardError } from '../../errors.ts';
import { dataFlag, EXIT, jsonFlag, openCliDatabase, parseFlags, print, printJson, requireFlag, table, type Command } from '../command.ts';

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

export const keysCommand: Command = {
  name: 'keys',
  summary: 'Create, list and revoke API keys.',
  usage: [
    'switchboard keys create --account ID [--role mcp|admin] [--name TEXT] [--json] [--data DIR]',
    '       switchboard keys list [--account ID] [--json] [--data DIR]',
    '       switchboard keys revoke ID [--json] [--data DIR]',
    '',
    'A key is shown once, when created; only its SHA-256 is stored. Role mcp may use the MCP',
    'endpoint; role admin may also use the admin API of its account. A revoked key is refused',
    'by a running server on its next request.',
  ].join('\n'),
  async run(argv, io) {
    const [action, ...rest] = argv;
    const { values, positionals } = parseFlags(rest, { ...dataFlag, ...jsonFlag, account: { type: 'string' }, role: { type: 'string' }, name: { type: 'string' } });
    const db = openCliDatabase(values.data, io.env);
    try {
      const keys = new ApiKeyStore(db, systemClock);
      switch (action) {
        case 'create': {
          const role = (values.role ?? 'mcp') as KeyRole;
          if (!KEY_ROLES.includes(role)) throw new SwitchboardError('BAD_REQUEST', `--role must be one of ${KEY_ROLES.join(', ')}`);
          const { record, key } = keys.create({ accountId: requireFlag(values.account, 'account'), role, ...(values.name ? { name: values.name } : {}) });
          if (values.json) printJson(io.stdout, { ...publicRecord(record), key });
          else print(io.stdout, `Created ${record.role} key ${record.id} for account ${record.accountId}. It is shown only now:\n${key}`);
          return EXIT.ok;
        }
        case 'list': {
          const records = keys.list(values.account);
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
          const record = keys.revoke(id);
          if (!record) throw new SwitchboardError('BAD_REQUEST', `no key has id ${id}`);
          if (values.json) printJson(io.stdout, publicRecord(record));
          else print(io.stdout, `Revoked key ${record.id} of account ${record.accountId}.`);
          return EXIT.ok;
        }
        default:
          throw new SwitchboardError('BAD_REQUEST', `unknown action "${action ?? ''}"; use create, list or revoke`);
      }
    } finally {
      db.close();
    }
  },
};
