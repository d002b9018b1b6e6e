import { pageJson, parseAuditFilters, type RawAuditFilters } from '../../audit/query.ts';
import { type CliIO, databaseFlag, dataFlag, EXIT, jsonFlag, parseFlags, print, printJson, requireFlag, table } from '../command.ts';
import { openCliServices } from '../open.ts';

const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseFlags(
    argv,
    {
      ...dataFlag,
      ...databaseFlag,
      ...jsonFlag,
      account: { type: 'string' },
      call: { type: 'string' },
      tool: { type: 'string' },
      persona: { type: 'string' },
      status: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
    },
    false,
  );
  const account = requireFlag(values.account, 'account');
  const raw: RawAuditFilters = { call: values.call, tool: values.tool, persona: values.persona, status: values.status, since: values.since, until: values.until, limit: values.limit, cursor: values.cursor };
  const services = await openCliServices({ data: values.data, database: values.database }, io);
  try {
    const page = await services.audit.query(parseAuditFilters(account, raw, services.clock.now()));
    const body = pageJson(page);
    if (values.json) {
      printJson(io.stdout, body);
      return EXIT.ok;
    }
    if (!body.entries.length) {
      print(io.stdout, `No audit rows for account ${account} match.`);
      return EXIT.ok;
    }
    print(
      io.stdout,
      table([
        ['TIME', 'PERSONA', 'CALL', 'TOOL', 'STATUS', 'MS', 'ARGUMENTS', 'TEXT'],
        ...body.entries.map((row) => [
          row.started_at,
          row.persona_id,
          clip(row.call_id, 24),
          row.tool,
          row.error_code ? `${row.status} ${row.error_code}` : row.status,
          String(Math.round(row.duration_ms)),
          clip(JSON.stringify(row.arguments), 60),
          clip(row.text.replace(/\s+/g, ' '), 80),
        ]),
      ]),
    );
    if (body.next_cursor) print(io.stdout, `More rows: add --cursor ${body.next_cursor}`);
    return EXIT.ok;
  } finally {
    await services.close();
  }
}
