import path from 'node:path';

import { SwitchboardError } from '../../errors.ts';
import { loadManifests } from '../../manifests/load.ts';
import { formatProblem, type ManifestProblem } from '../../manifests/problems.ts';
import { builtinToolKinds } from '../../tools/kinds.ts';
import { EXIT, parseFlags, print, printJson, type Command } from '../command.ts';

const FORMATS = ['text', 'json', 'github'] as const;
type Format = (typeof FORMATS)[number];

/** GitHub workflow commands need %, CR and LF escaped in the message. */
const escapeAnnotation = (text: string) => text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');

export const validateCommand: Command = {
  name: 'validate',
  summary: 'Check account and persona manifests; exit 1 with every problem found.',
  usage: [
    'switchboard validate [DIR] [--format text|json|github]',
    '',
    'DIR defaults to ./personas (or SWITCHBOARD_PERSONAS). Checks YAML syntax, the JSON Schemas,',
    'references between files, time zones, dates, tool names and templates, exactly as the server',
    'does on load. Prints file:line:col: path: message per problem. --format github prints',
    'workflow annotations for GitHub Actions; --format json one JSON object.',
  ].join('\n'),
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { format: { type: 'string' } });
    const format = (values.format ?? 'text') as Format;
    if (!FORMATS.includes(format)) throw new SwitchboardError('BAD_REQUEST', `--format must be one of ${FORMATS.join(', ')}`);
    const dirArgument = positionals[0] ?? io.env.SWITCHBOARD_PERSONAS ?? 'personas';
    const dir = path.resolve(dirArgument);

    const started = performance.now();
    const snapshot = await loadManifests({ dir, kinds: builtinToolKinds });
    const elapsedMs = Math.round(performance.now() - started);
    // Paths as the user wrote the directory, so editors and CI annotations find the files.
    const shown = (problem: ManifestProblem): ManifestProblem => ({ ...problem, file: path.join(dirArgument, problem.file) });
    const problems = snapshot.problems.map(shown);
    const files = snapshot.files.size;

    if (format === 'json') {
      printJson(io.stdout, {
        valid: problems.length === 0,
        files,
        accounts: snapshot.accounts.size,
        personas: snapshot.personas.size,
        problems: problems.map((problem) => ({ ...problem, text: formatProblem(problem) })),
      });
    } else if (format === 'github') {
      for (const problem of problems) {
        print(io.stdout, `::error file=${problem.file},line=${problem.line},col=${problem.column},title=${escapeAnnotation(problem.path || 'manifest')}::${escapeAnnotation(problem.message)}`);
      }
    } else {
      for (const problem of problems) print(io.stdout, formatProblem(problem));
    }
    if (format !== 'json') {
      const summary = problems.length
        ? `${problems.length} problem${problems.length === 1 ? '' : 's'} in ${new Set(problems.map((p) => p.file)).size} of ${files} files`
        : `${files} files valid: ${snapshot.accounts.size} accounts, ${snapshot.personas.size} personas`;
      print(io.stderr, `${summary} (${elapsedMs} ms)`);
    }
    return problems.length ? EXIT.problems : EXIT.ok;
  },
};
