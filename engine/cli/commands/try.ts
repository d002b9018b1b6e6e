/**
 * `switchboard try`: runs one API tool of a persona the way a call would,
 * from the command line. It renders the exact HTTP request (secrets masked)
 * and, unless --dry-run, sends it through the same outbound client and SSRF
 * guard as the server and prints what the model would get. Persona authors
 * use it before they merge a manifest change.
 *
 * Everything it prints passes the server's own mask (engine/secrets.ts): the
 * same forms, the same length rule, so what `try` shows is what a call shows.
 * The console's try panel runs the same steps (tools/custom/api-request/try.ts).
 */
import { Writable } from 'node:stream';

import { pino } from 'pino';

import { referencedSecretNames } from '../../audit/secret-masking.ts';
import { resolveSettings } from '../../config.ts';
import { SwitchboardError } from '../../errors.ts';
import { findPersona } from '../../manifests/snapshot.ts';
import { OutboundClient } from '../../outbound/client.ts';
import { toE164 } from '../../phone.ts';
import { maskKnownSecrets, SecretStore } from '../../secrets.ts';
import type { ApiRequestPlan } from '../../tools/custom/api-request/plan.ts';
import { findApiTool, tryApiTool, type ApiToolTry } from '../../tools/custom/api-request/try.ts';
import type { CallContext } from '../../tools/types.ts';
import { type CliIO, EXIT, jsonFlag, parseFlags, personasFlag, print, printJson, requireFlag } from '../command.ts';
import { loadCliManifests } from '../open.ts';

/** Operator hints from the tool (a refused address, a missing secret) as plain lines on stderr. */
function hintLogger(stderr: NodeJS.WritableStream) {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { level?: string; msg?: string };
        print(stderr, maskKnownSecrets(`${entry.level ?? 'warn'}: ${entry.msg ?? ''}`));
      }
      done();
    },
  });
  return pino({ level: 'warn', base: null, timestamp: false, formatters: { level: (label) => ({ level: label }) } }, destination);
}

/** --arg name=value pairs, typed by the tool's variables. */
function toolArguments(pairs: readonly string[], plan: ApiRequestPlan): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals < 1) throw new SwitchboardError('BAD_REQUEST', `--arg ${pair}: write --arg name=value`);
    const name = pair.slice(0, equals);
    const value = pair.slice(equals + 1);
    const variable = plan.variables.get(name);
    if (!variable) {
      throw new SwitchboardError('BAD_REQUEST', `${plan.entry.name} has no variable "${name}" (variables: ${[...plan.variables.keys()].join(', ') || 'none'})`);
    }
    // A number as the server would get it: 1e309 becomes Infinity, which the argument check refuses as the server does.
    args[name] = variable.type === 'number' && value.trim() !== '' && !Number.isNaN(Number(value)) ? Number(value) : value;
  }
  return args;
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    ...jsonFlag,
    ...personasFlag,
    account: { type: 'string' },
    persona: { type: 'string' },
    arg: { type: 'string', multiple: true },
    caller: { type: 'string' },
    call: { type: 'string' },
    'dry-run': { type: 'boolean' },
  });
  const accountId = requireFlag(values.account, 'account');
  const personaId = requireFlag(values.persona, 'persona');
  const toolName = positionals[0];
  if (!toolName || positionals.length > 1) throw new SwitchboardError('BAD_REQUEST', 'name exactly one tool: switchboard try --account A --persona P TOOL');

  const snapshot = await loadCliManifests(values.personas, io);
  if (!findPersona(snapshot, accountId, personaId) || !snapshot.accounts.has(accountId)) {
    for (const problem of snapshot.problems.filter((item) => item.file.startsWith(`${accountId}/`))) print(io.stderr, `${problem.file}:${problem.line}:${problem.column}: ${problem.path ? `${problem.path}: ` : ''}${problem.message}`);
  }
  const target = findApiTool(snapshot, accountId, personaId, toolName);
  const args = toolArguments(values.arg ?? [], target.plan);

  const settings = resolveSettings(values.personas ? { personas: values.personas } : {}, io.env, io.cwd);
  const secrets = new SecretStore(io.env, settings.secretsFile, (message) => print(io.stderr, `warning: ${message}`));
  // As the server does at start: every secret the manifests name is known to the mask, not only this tool's.
  const everyName = new SecretStore(io.env, settings.secretsFile);
  for (const name of referencedSecretNames(snapshot)) everyName.get(name);
  const call: CallContext = {
    accountId,
    personaId,
    callId: values.call ?? `try-${Date.now().toString(36)}`,
    callerIdNumber: values.caller,
    callerE164: toE164(values.caller, target.account.defaultCountry),
    keyId: 'cli',
  };
  const dryRun = Boolean(values['dry-run']);
  const outbound = new OutboundClient({ allow: settings.outboundAllow });
  let tried: ApiToolTry;
  try {
    tried = await tryApiTool({ target, args, call, secrets, outbound, dryRun, log: hintLogger(io.stderr) });
  } finally {
    outbound.close();
  }
  if (tried.notSentFor !== undefined) throw new SwitchboardError('SECRET_MISSING', `secret ${tried.notSentFor} is not set: export ${tried.notSentFor}=… or add it to the secrets file (use --dry-run to see the request without it)`);
  const { request, outcome, missingSecrets: missing } = tried;
  if (missing.length) print(io.stderr, `warning: secret${missing.length > 1 ? 's' : ''} not set: ${missing.join(', ')}`);

  if (values.json) {
    printJson(io.stdout, { request, ...(outcome ? { result: { is_error: outcome.isError, text: outcome.text, structured_content: outcome.data } } : {}) });
  } else {
    print(io.stdout, `${request.method} ${request.url}`);
    for (const [name, value] of Object.entries(request.headers)) print(io.stdout, `${name}: ${value}`);
    if (request.body !== undefined) print(io.stdout, `\n${request.body}`);
    if (outcome) {
      print(io.stdout, `\n${outcome.isError ? 'Tool error' : 'The model gets'}: ${outcome.text}`);
      print(io.stdout, `Structured content: ${JSON.stringify(outcome.data)}`);
    }
  }
  return outcome?.isError ? EXIT.problems : EXIT.ok;
}
