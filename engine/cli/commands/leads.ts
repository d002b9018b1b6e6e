import { SwitchboardError } from '../../errors.ts';
import { leadJson } from '../../leads/present.ts';
import { oneLine } from '../../plain-text.ts';
import { type CliIO, dataFlag, EXIT, jsonFlag, parseFlags, print, printJson, requireFlag, table } from '../command.ts';
import { openCliServices } from '../open.ts';
import { pagingFlags, readPaging } from './paging.ts';

const day = (ms: number): string => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
const clip = (text: string, width: number): string => (text.length > width ? `${text.slice(0, width - 1)}…` : text);

export async function run(argv: string[], io: CliIO): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== 'list') throw new SwitchboardError('BAD_REQUEST', `unknown action "${action ?? ''}"; use list`);
  const { values } = parseFlags(rest, { ...dataFlag, ...jsonFlag, ...pagingFlags, account: { type: 'string' } }, false);
  const account = requireFlag(values.account, 'account');
  const services = await openCliServices(values, io);
  try {
    const page = await services.leads.list(account, readPaging(values));
    if (values.json) {
      printJson(io.stdout, { leads: page.leads.map(leadJson), next_cursor: page.nextCursor });
      return EXIT.ok;
    }
    if (!page.leads.length) {
      print(io.stdout, `No leads in account ${account}.`);
      return EXIT.ok;
    }
    const rows = page.leads.map((lead) => {
      const last = lead.cases[lead.cases.length - 1];
      return [lead.id, lead.phoneE164 ?? '-', clip(oneLine(lead.name), 30), lead.classification ?? '-', String(lead.cases.length), last ? day(last.createdAt) : '-', clip(oneLine(last?.intent ?? ''), 50)];
    });
    print(io.stdout, table([['LEAD', 'PHONE', 'NAME', 'CLASS', 'CASES', 'LAST CASE (UTC)', 'LAST INTENT'], ...rows]));
    if (page.nextCursor) print(io.stdout, `More leads: --cursor ${page.nextCursor}`);
    return EXIT.ok;
  } finally {
    await services.close();
  }
}
