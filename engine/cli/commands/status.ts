import { resolveSettings } from '../../config.ts';
import { SwitchboardError } from '../../errors.ts';
import { formatProblem, type ManifestProblem } from '../../manifests/problems.ts';
import type { MissingSecrets } from '../../secrets-inventory.ts';
import { type CliIO, EXIT, jsonFlag, parseFlags, print, printJson } from '../command.ts';

interface ReadyBody {
  status: string;
  checks: Record<string, boolean>;
  reasons?: string[];
  manifests: { generation: number; loadedAt: string | null; accounts: number; personas: number; problems: number };
  sessions: number;
  problems?: ManifestProblem[];
  files?: Record<string, { valid: boolean; servingLastGood: boolean }>;
  call_control?: { accounts: number; down: number };
  phone_systems?: { account: string; driver: string; state: string; reason: string | null; since: string }[];
  storage?: { free_bytes: number | null; min_free_bytes: number; database_error: string | null; disk_error: string | null };
  secrets?: { missing: number };
  missing_secrets?: (MissingSecrets & { text: string })[];
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseFlags(argv, { ...jsonFlag, url: { type: 'string' } }, false);
  const settings = resolveSettings({}, io.env, io.cwd);
  const base = values.url ?? `http://127.0.0.1:${settings.port}`;
  let body: ReadyBody;
  try {
    const response = await fetch(new URL('/readyz', base), { headers: settings.metricsToken ? { authorization: `Bearer ${settings.metricsToken}` } : {} });
    body = (await response.json()) as ReadyBody;
  } catch (error) {
    throw new SwitchboardError('INTERNAL', `cannot reach ${base}: ${(error as Error).message}`);
  }
  if (values.json) {
    printJson(io.stdout, body);
  } else {
    const m = body.manifests;
    print(io.stdout, `${body.status} at ${base}`);
    for (const reason of body.reasons ?? []) print(io.stdout, `  not ready: ${reason}`);
    print(io.stdout, `manifests: generation ${m.generation}, loaded ${m.loadedAt ?? 'never'}, ${m.accounts} accounts, ${m.personas} personas`);
    print(io.stdout, `sessions: ${body.sessions}`);
    if (body.storage?.free_bytes != null) print(io.stdout, `disk: ${Math.floor(body.storage.free_bytes / 1048576)} MiB free (at least ${Math.floor(body.storage.min_free_bytes / 1048576)} MiB kept)`);
    if (body.phone_systems?.length) {
      print(io.stdout, 'phone systems:');
      for (const entry of body.phone_systems) print(io.stdout, `  ${entry.account}: ${entry.driver} ${entry.state}${entry.reason ? ` (${entry.reason})` : ''} since ${entry.since}`);
    } else if (body.call_control?.down) {
      print(io.stdout, `phone systems: ${body.call_control.down} of ${body.call_control.accounts} down (details are shown to loopback callers or with the metrics token)`);
    }
    const lastGood = Object.entries(body.files ?? {}).filter(([, state]) => state.servingLastGood).map(([file]) => file);
    if (body.problems?.length) {
      print(io.stdout, `problems (${body.problems.length}):`);
      for (const problem of body.problems) print(io.stdout, `  ${formatProblem(problem)}`);
      if (lastGood.length) print(io.stdout, `last good version in force for: ${lastGood.join(', ')}`);
    } else if (m.problems) {
      print(io.stdout, `problems: ${m.problems} (details are shown to loopback callers or with the metrics token)`);
    }
    if (body.missing_secrets?.length) {
      print(io.stdout, `secrets not set (${body.secrets?.missing ?? body.missing_secrets.length}), set them in the server's environment (then restart) or its secrets file (then SIGHUP):`);
      for (const entry of body.missing_secrets) print(io.stdout, `  ${entry.text}`);
    } else if (body.secrets?.missing) {
      print(io.stdout, `secrets not set: ${body.secrets.missing} (details are shown to loopback callers or with the metrics token)`);
    }
  }
  if (body.status !== 'ready') return EXIT.error;
  return body.manifests.problems || body.secrets?.missing ? EXIT.problems : EXIT.ok;
}
