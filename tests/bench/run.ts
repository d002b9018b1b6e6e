/**
 * `npm run bench`: every figure in one run, written to tests/bench/results.json
 * and printed as a table.
 *
 * Throughput is measured against a bare reference MCP server built with the
 * same SDK (reference-server.ts), alternating reference and Switchboard under
 * the same load, so the ratio holds on a noisy machine. Both servers run as
 * separate processes; the load generator runs here.
 *
 *   npm run bench                     # the full run (several minutes)
 *   npm run bench -- --quick          # shorter phases, 100,000 contacts
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { EXAMPLE_PERSONAS, REPO_ROOT, tempDir } from '../helpers/server.ts';
import { measureContactLookup } from './contacts-lookup.ts';
import { measureCreateLead } from './create-lead.ts';
import { measureSessionSetup, runLoad, type LoadCall, type LoadEra, type LoadResult, type LoadTarget } from './load.ts';
import { coldLoad, generatePersonas, notificationLatency } from './manifests.ts';
import { percentile, printTable } from './stats.ts';
import { measureTransfers, printTransferTable } from './transfer.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, clients: { type: 'string' }, seconds: { type: 'string' }, out: { type: 'string' } } });
const quick = Boolean(values.quick);
const CLIENTS = Number(values.clients ?? 50);
const SECONDS = Number(values.seconds ?? (quick ? 3 : 8));
const ROUNDS = quick ? 1 : 2;
const OUT = values.out ?? path.join(REPO_ROOT, 'tests/bench/results.json');

interface Started {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/** Starts a process whose output goes to a file, and waits for `pattern` to print the URL. */
async function startProcess(args: string[], pattern: RegExp): Promise<Started> {
  const logFile = path.join(tempDir('bench-log'), 'out.log');
  const out = fs.openSync(logFile, 'w');
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', out, out] });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const match = fs.readFileSync(logFile, 'utf8').match(pattern);
    if (match) {
      fs.closeSync(out);
      return {
        child,
        url: match[1] as string,
        stop: () =>
          new Promise((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      };
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${args.join(' ')} did not start:\n${fs.readFileSync(logFile, 'utf8')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}


async function main(): Promise<void> {
  const started = new Date();
  const data = tempDir('bench-data');
  const tsx = path.join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs');
  const bin = path.join(REPO_ROOT, 'bin/switchboard.mjs');
  const keyOutput = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, [bin, 'keys', 'create', '--account', 'acme', '--json', '--data', data]);
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('close', () => resolve(text));
  });
  const key = (JSON.parse(keyOutput) as { key: string }).key;

  const startReference = (routing = 'example') => startProcess([tsx, 'tests/bench/reference-server.ts', '0', routing], /listening (http\S+)/);
  const startSwitchboard = () =>
    startProcess(
      [bin, 'serve', '--port', '0', '--data', data, '--personas', EXAMPLE_PERSONAS, '--rate-limit', '0', '--max-sessions', '100000', '--session-idle-seconds', '3600'],
      /"mcp":"(http[^"]+)"/,
    );
  const reference = await startReference();
  const direct = await startReference('direct');
  const switchboard = await startSwitchboard();
  try {
    const referenceTarget: LoadTarget = { url: new URL(reference.url), headers: {} };
    const directTarget: LoadTarget = { url: new URL(direct.url), headers: {} };
    const switchboardTarget: LoadTarget = {
      url: new URL(switchboard.url),
      headers: { 'x-api-key': key, account_id: 'acme', persona_id: 'front-desk', caller_id_number: '+12125550100' },
      perClientHeaders: (client) => ({ call_id: `bench-call-${client}` }),
    };
    const noop: LoadCall = { tool: 'noop', arguments: {} };
    const tools: Record<string, LoadCall> = {
      is_office_open: { tool: 'is_office_open', arguments: {} },
      lookup_contact: { tool: 'lookup_contact', arguments: { phone_number: '(212) 555-0100' } },
      create_lead: { tool: 'create_lead', arguments: (client, n) => ({ name: `Caller ${client}`, intent: `Quote request ${n}` }) },
    };

    // Alternate reference and Switchboard phases; keep every sample.
    const samples: Record<string, LoadResult[]> = {};
    const record = (name: string, result: LoadResult) => (samples[name] ??= []).push(result);
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const era of ['legacy', 'modern'] as LoadEra[]) {
        for (const [tool, call] of Object.entries(tools)) {
          record(`reference ${era} noop`, await runLoad(referenceTarget, era, noop, CLIENTS, SECONDS));
          record(`switchboard ${era} ${tool}`, await runLoad(switchboardTarget, era, call, CLIENTS, SECONDS));
        }
      }
      // The reference again, routing known sessions without classifying them, as Switchboard does.
      record('reference-direct legacy noop', await runLoad(directTarget, 'legacy', noop, CLIENTS, SECONDS));
    }
    const median = (results: LoadResult[], pick: (result: LoadResult) => number) => percentile(results.map(pick), 50);
    const throughput = Object.fromEntries(
      Object.entries(samples).map(([name, results]) => [
        name,
        {
          callsPerSecond: median(results, (r) => r.callsPerSecond),
          p50Ms: median(results, (r) => r.p50Ms),
          p99Ms: median(results, (r) => r.p99Ms),
          errors: results.reduce((sum, r) => sum + r.errors, 0),
        },
      ]),
    );
    const ratios = Object.fromEntries(
      Object.keys(samples)
        .filter((name) => name.startsWith('switchboard'))
        .map((name) => {
          const era = name.split(' ')[1];
          return [name, throughput[name]!.callsPerSecond / throughput[`reference ${era} noop`]!.callsPerSecond];
        }),
    );
    const ratiosToDirectRouting = Object.fromEntries(
      Object.keys(samples)
        .filter((name) => name.startsWith('switchboard legacy'))
        .map((name) => [name, throughput[name]!.callsPerSecond / throughput['reference-direct legacy noop']!.callsPerSecond]),
    );

    const sessionSetup = {
      reference: await measureSessionSetup(referenceTarget, quick ? 500 : 2000, 20),
      switchboard: await measureSessionSetup(switchboardTarget, quick ? 500 : 2000, 20),
    };

    // Heap per idle session, after full garbage collections, in a process of its own.
    const idleSessions = await new Promise<{ sessions: number; referenceKiB: number; switchboardKiB: number }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'tests/bench/idle-sessions.ts', '--json'], { cwd: REPO_ROOT });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.on('close', (code) => (code === 0 ? resolve(JSON.parse(text.trim().split('\n').pop() as string)) : reject(new Error(`idle-sessions exited with ${code}`))));
    });

    const personasDir = generatePersonas(1000);
    const manifests = {
      coldLoad: await coldLoad(personasDir),
      notification2025: await notificationLatency(personasDir, 'legacy'),
      notification2026: await notificationLatency(personasDir, 'modern'),
    };
    const lookup = await measureContactLookup({ contacts: quick ? 100_000 : 1_000_000 });
    const createLead = await measureCreateLead({ leads: 5000 });
    // In this process, with a fake phone system per driver; the servers above are idle meanwhile.
    const transfers = await measureTransfers({ transfers: quick ? 60 : 300 });

    const results = {
      measuredAt: started.toISOString(),
      machine: { node: process.version, cpus: (await import('node:os')).cpus().length },
      load: { clients: CLIENTS, secondsPerPhase: SECONDS, rounds: ROUNDS },
      throughput,
      ratioToReference: ratios,
      ratioToDirectRoutingReference: ratiosToDirectRouting,
      sessionSetup,
      idleSessions,
      manifests,
      lookupContact: lookup,
      createLead,
      transfers,
    };
    fs.writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);

    const fixed = (value: number, digits = 0) => value.toFixed(digits);
    printTable([
      ['figure', 'value', 'target'],
      ...Object.entries(throughput).map(([name, t]) => [
        `${name}: calls/s, p50 / p99`,
        `${fixed(t.callsPerSecond)}, ${fixed(t.p50Ms, 1)} / ${fixed(t.p99Ms, 1)} ms${ratios[name] ? `, ratio ${fixed(ratios[name], 2)}` : ''}${ratiosToDirectRouting[name] ? ` (${fixed(ratiosToDirectRouting[name], 2)} to direct)` : ''}${t.errors ? `, ${t.errors} errors` : ''}`,
        name.startsWith('switchboard legacy') ? 'ratio >= 1.0' : '',
      ]),
      ['session setup, reference / switchboard', `${fixed(sessionSetup.reference.perSecond)} / ${fixed(sessionSetup.switchboard.perSecond)} per s`, ''],
      ['heap per idle session, reference / switchboard', `${fixed(idleSessions.referenceKiB, 1)} / ${fixed(idleSessions.switchboardKiB, 1)} KiB`, '<= 40 KiB'],
      [`cold load of ${manifests.coldLoad.personas} personas`, `${fixed(manifests.coldLoad.bestMs)} ms`, '< 2000 ms'],
      ['edited file -> list_changed, 2025 / 2026 (p50)', `${fixed(manifests.notification2025.p50Ms)} / ${fixed(manifests.notification2026.p50Ms)} ms`, '< 300 ms'],
      [`lookup_contact over ${lookup.contacts.toLocaleString('en')} contacts (p99)`, `${fixed(lookup.handler.p99Ms, 3)} ms`, '< 1 ms'],
      ['create_lead, sequential (synchronous FULL / NORMAL)', `${fixed(createLead.perSecond.full)} / ${fixed(createLead.perSecond.normal)} per s`, '>= 2000/s'],
      [`create_lead, ${createLead.concurrency} at a time (synchronous FULL / NORMAL)`, `${fixed(createLead.concurrentPerSecond.full)} / ${fixed(createLead.concurrentPerSecond.normal)} per s`, ''],
    ]);
    console.log(`\ntransfer_call until the command reaches the fake phone system, and until the tool answers (${transfers.transfers} per driver):\n`);
    printTransferTable(transfers);
    console.log(`\nwritten to ${path.relative(process.cwd(), OUT)}`);
  } finally {
    await reference.stop();
    await direct.stop();
    await switchboard.stop();
  }
}

await main();
