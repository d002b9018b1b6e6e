/**
 * What `switchboard serve` prints once on an interactive terminal when it has
 * started: where the MCP endpoint is, what was loaded, what does not work yet
 * (manifest problems, phone systems that are down, secrets that are not set,
 * each with the part that fails), the first key if one was made, and a
 * command that tries it. JSON log lines say all of this too, but spread over
 * a dozen objects that a person starting the server for the first time does
 * not read; this says it in one screen they can act on.
 *
 * `firstScreen` is pure (facts in, text out); `firstScreenFacts` gathers the
 * facts from a running server.
 */
import fs from 'node:fs';
import path from 'node:path';

import { formatProblem, type ManifestProblem } from '../manifests/problems.ts';
import type { RunningServer } from '../server.ts';
import { countMissing, formatMissing, missingSecrets, type MissingSecrets } from '../secrets-inventory.ts';
import { VERSION } from '../version.ts';

export interface CreatedKey {
  id: string;
  accountId: string;
  role: string;
  key: string;
}

export interface FirstScreenFacts {
  version: string;
  /** scheme://host:port */
  url: string;
  personasDir: string;
  /** Loaded accounts with their personas, in name order. */
  accounts: { id: string; personas: string[] }[];
  /** Problems and warnings of the load. */
  problems: readonly ManifestProblem[];
  phoneSystems: { account: string; driver: string; state: string; reason: string | null }[];
  missingSecrets: readonly MissingSecrets[];
  key: CreatedKey | undefined;
  /** A command that calls a tool with the key, if some persona can take it. */
  tryCommand: string | undefined;
}

/** Problems listed at most; the rest are counted, and `status` lists them all. */
const MAX_PROBLEMS = 10;

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;

/**
 * Why no account is loaded and what to do, in one sentence naming the
 * directory: for the first screen and the log line of a start without one.
 */
export function noAccountsAdvice(personasDir: string, problems: readonly ManifestProblem[]): string {
  const tree = problems.find((problem) => problem.file === '.');
  const why = tree ? tree.message.replace(/;.*$/, '') : problems.length ? 'no account file in it is valid (the problems are listed)' : `the manifests directory ${personasDir} holds no account`;
  const cure = /cannot be read/.test(why) ? 'Give the user that runs switchboard read access to it, or point' : 'Point';
  return `no account is loaded: ${why}. ${cure} --personas or SWITCHBOARD_PERSONAS at the directory that holds your account directories (personas/ in the repository is an example); it is served as soon as it is there, and /readyz answers 503 until then`;
}

export function firstScreen(facts: FirstScreenFacts): string {
  const lines: string[] = [];
  const mcp = `${facts.url}/ucp/v2/mcp`;
  lines.push('', `Switchboard ${facts.version} is serving.`, '');
  lines.push(`  MCP endpoint   ${mcp}`);
  const personas = facts.accounts.reduce((sum, account) => sum + account.personas.length, 0);
  lines.push(
    facts.accounts.length
      ? `  Manifests      ${facts.personasDir}: ${plural(facts.accounts.length, 'account')} (${facts.accounts.map((account) => account.id).join(', ')}), ${plural(personas, 'persona')}`
      : `  Manifests      ${facts.personasDir}: none loaded`,
  );
  facts.phoneSystems.forEach((entry, index) => {
    const label = index === 0 ? '  Phone systems  ' : '                 ';
    lines.push(`${label}${entry.account}: ${entry.driver} ${entry.state}${entry.reason ? ` (${entry.reason})` : ''}`);
  });
  if (!facts.accounts.length) lines.push('', `Not ready: ${noAccountsAdvice(facts.personasDir, facts.problems)}.`);

  const errors = facts.problems.filter((problem) => problem.severity !== 'warning');
  const warnings = facts.problems.filter((problem) => problem.severity === 'warning');
  if (errors.length || warnings.length) {
    const heading = [errors.length ? plural(errors.length, 'problem') : '', warnings.length ? plural(warnings.length, 'warning') : ''].filter(Boolean).join(' and ');
    lines.push('', `Manifests: ${heading}${errors.length ? '; a file with problems is not served (or keeps its last good version)' : ''}:`);
    for (const problem of [...errors, ...warnings].slice(0, MAX_PROBLEMS)) lines.push(`  ${formatProblem(problem)}`);
    if (errors.length + warnings.length > MAX_PROBLEMS) lines.push(`  ... and ${errors.length + warnings.length - MAX_PROBLEMS} more: npx switchboard status lists them all`);
  }

  if (facts.missingSecrets.length) {
    lines.push(
      '',
      `Secrets not set (${countMissing(facts.missingSecrets)}): these parts do not work until you set them in the server's environment`,
      '(then restart) or in its --secrets-file (then send SIGHUP); everything else works:',
    );
    for (const entry of facts.missingSecrets) lines.push(`  ${formatMissing(entry)}`);
  }

  if (facts.key) {
    lines.push(
      '',
      'No API keys existed, so one was created. It is shown only now; store it:',
      `  account: ${facts.key.accountId}   role: ${facts.key.role}   id: ${facts.key.id}`,
      `  key:     ${facts.key.key}`,
    );
  }

  lines.push('', 'Try it:');
  if (facts.tryCommand) lines.push(`  ${facts.tryCommand}`);
  lines.push('  npx switchboard status        readiness, problems, phone systems and secrets', '  npx switchboard keys create --account <id> [--role mcp|admin]');
  lines.push('', 'Log lines follow (--log-format json for JSON). Ctrl-C stops the server.', '');
  return lines.join('\n');
}

/** The example client's defaults (examples/quickstart-client.ts): left out of the command when they fit. */
const CLIENT_DEFAULTS = { url: 'http://127.0.0.1:9443/ucp/v2/mcp', account: 'acme', persona: 'front-desk' };
const QUICKSTART_CLIENT = 'examples/quickstart-client.ts';

/**
 * A command that calls is_office_open as a voice agent would: the example
 * client when this is a checkout of the repository, else the MCP Inspector's
 * CLI. For the key's account, on its front-desk persona if it has one.
 */
export function tryCommand(server: Pick<RunningServer, 'url' | 'registry'>, accountId: string | undefined, key: string | undefined, cwd: string): string | undefined {
  const personas = [...server.registry.current().personas.values()]
    .filter((persona) => persona.accountId === accountId && persona.catalog.tools.has('is_office_open'))
    .map((persona) => persona.id)
    .sort();
  const persona = personas.includes(CLIENT_DEFAULTS.persona) ? CLIENT_DEFAULTS.persona : personas[0];
  if (!accountId || !persona) return undefined;
  const mcp = `${server.url}/ucp/v2/mcp`;
  const apiKey = key ?? 'sb_...';
  if (fs.existsSync(path.join(cwd, QUICKSTART_CLIENT))) {
    const env = [
      `SWITCHBOARD_API_KEY=${apiKey}`,
      ...(mcp === CLIENT_DEFAULTS.url ? [] : [`SWITCHBOARD_URL=${mcp}`]),
      ...(accountId === CLIENT_DEFAULTS.account ? [] : [`SWITCHBOARD_ACCOUNT=${accountId}`]),
      ...(persona === CLIENT_DEFAULTS.persona ? [] : [`SWITCHBOARD_PERSONA=${persona}`]),
    ];
    return `${env.join(' ')} npx tsx ${QUICKSTART_CLIENT}`;
  }
  return `npx @modelcontextprotocol/inspector --cli ${mcp} --transport http --header "X-API-Key: ${apiKey}" --header "account_id: ${accountId}" --header "persona_id: ${persona}" --header "call_id: try-1" --method tools/call --tool-name is_office_open`;
}

/** The facts of a server that has just started. */
export function firstScreenFacts(server: RunningServer, personasDir: string, key: CreatedKey | undefined, cwd: string): FirstScreenFacts {
  const snapshot = server.registry.current();
  const accounts = [...snapshot.accounts.keys()].sort().map((id) => ({
    id,
    personas: [...snapshot.personas.values()]
      .filter((persona) => persona.accountId === id)
      .map((persona) => persona.id)
      .sort(),
  }));
  const accountId = key?.accountId ?? accounts[0]?.id;
  return {
    version: VERSION,
    url: server.url,
    personasDir,
    accounts,
    problems: [...snapshot.problems, ...snapshot.warnings],
    phoneSystems: server.services.calls.drivers.health(),
    missingSecrets: missingSecrets(snapshot, server.services.secrets),
    key,
    tryCommand: tryCommand(server, accountId, key?.key, cwd),
  };
}
