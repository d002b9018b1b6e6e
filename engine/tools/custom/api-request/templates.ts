/**
 * Handlebars templates of API tools, checked when the manifest loads.
 *
 * Every template is parsed and walked once: each placeholder must name a
 * declared variable, a call-context value or `secret.NAME` (request
 * templates), or a variable, a picked field or a field of the answer
 * (response templates). An unknown name is a manifest problem, not a
 * surprise during a call. Request templates allow only `{{name}}` and
 * `{{#if name}}…{{/if}}` / `{{#unless}}`; response templates add `{{#each}}`
 * and `{{#with}}`. No partials, no other helpers.
 *
 * Templates run in their own Handlebars environment (no `log` or `lookup`
 * helper), in strict mode, with prototype access off and without HTML
 * escaping: this is not HTML. Encoding for the place a value lands (URL,
 * header, JSON) is done by the caller, which hands the template values that
 * are already encoded for that place (request.ts).
 */
import Handlebars from 'handlebars';

export const CALL_CONTEXT_NAMES = ['caller_id_number', 'call_id', 'account_id', 'persona_id'] as const;
export type CallContextName = (typeof CALL_CONTEXT_NAMES)[number];

/** Names a variable may not take: they mean something else in templates. */
export const RESERVED_NAMES = new Set<string>([...CALL_CONTEXT_NAMES, 'secret', 'this', 'if', 'unless', 'each', 'with', 'lookup', 'log', 'else', 'true', 'false', 'null', 'undefined']);

const SECRET_NAME = /^[A-Z][A-Z0-9_]{0,127}$/;

const handlebars = Handlebars.create();
handlebars.unregisterHelper('log');
handlebars.unregisterHelper('lookup');

const REQUEST_BLOCKS = new Set(['if', 'unless']);
const RESPONSE_BLOCKS = new Set(['if', 'unless', 'each', 'with']);
/** Blocks whose body sees the items of a list or object rather than the root. */
const SCOPING_BLOCKS = new Set(['each', 'with']);

export const RUNTIME_OPTIONS = { allowProtoPropertiesByDefault: false, allowProtoMethodsByDefault: false } as const;

/** A template problem, reported by the factory at the template's place in the manifest. */
export class TemplateProblem extends Error {}

export interface TemplateNames {
  kind: 'request' | 'response';
  /** Root names a placeholder may use (variables, call context, picked fields). */
  known: ReadonlySet<string>;
  /** Response templates without pick: other names are fields of the answer. */
  openAnswer?: boolean;
}

export interface CompiledTemplate {
  readonly source: string;
  /** Root names used (variables and call context), secrets not included. */
  readonly names: ReadonlySet<string>;
  /** Secret names used as {{secret.NAME}}. */
  readonly secrets: ReadonlySet<string>;
  /** The name when the template is exactly one placeholder, e.g. "{{technicians}}". */
  readonly sole: string | undefined;
  /** The template is plain text: no placeholders at all. */
  readonly literal: boolean;
  render(context: Record<string, unknown>): string;
}

type Node = hbs.AST.Node;
type Path = hbs.AST.PathExpression;

/**
 * Compiled templates by source and names: a thousand personas copied from one
 * template share one compilation (compiling is pure; a failure is re-thrown).
 */
const compiledTemplates = new Map<string, CompiledTemplate | TemplateProblem>();
const MAX_CACHED_TEMPLATES = 20_000;

export function compileTemplate(source: string, names: TemplateNames): CompiledTemplate {
  const key = `${names.kind}\u0000${names.openAnswer ? 1 : 0}\u0000${[...names.known].sort().join(',')}\u0000${source}`;
  let compiled = compiledTemplates.get(key);
  if (!compiled) {
    try {
      compiled = compileUncached(source, names);
    } catch (error) {
      if (!(error instanceof TemplateProblem)) throw error;
      compiled = error;
    }
    if (compiledTemplates.size >= MAX_CACHED_TEMPLATES) compiledTemplates.clear();
    compiledTemplates.set(key, compiled);
  }
  if (compiled instanceof TemplateProblem) throw compiled;
  return compiled;
}

function compileUncached(source: string, names: TemplateNames): CompiledTemplate {
  let program: hbs.AST.Program;
  try {
    program = handlebars.parse(source);
  } catch (error) {
    const first = ((error as Error).message.split('\n')[0] ?? '').replace(/^Parse error on line \d+:?/, '').trim();
    throw new TemplateProblem(`template does not parse${first ? `: ${first}` : ''} (placeholders are written {{name}})`);
  }
  const used = new Set<string>();
  const secrets = new Set<string>();
  walkProgram(program, 0, names, used, secrets);

  const only = program.body.length === 1 ? program.body[0] : undefined;
  const solePath = only?.type === 'MustacheStatement' && (only as hbs.AST.MustacheStatement).params.length === 0 ? ((only as hbs.AST.MustacheStatement).path as Path) : undefined;
  const sole = solePath && solePath.type === 'PathExpression' && !solePath.data && solePath.depth === 0 ? solePath.parts.join('.') : undefined;
  const literal = program.body.every((statement) => statement.type === 'ContentStatement' || statement.type === 'CommentStatement');

  const template = handlebars.compile(program, {
    strict: true,
    noEscape: true,
    knownHelpersOnly: true,
    knownHelpers: { if: true, unless: true, each: true, with: true, log: false, lookup: false, helperMissing: false, blockHelperMissing: false },
  });
  return { source, names: used, secrets, sole, literal, render: (context) => template(context, RUNTIME_OPTIONS) };
}

function walkProgram(program: hbs.AST.Program | undefined, depth: number, names: TemplateNames, used: Set<string>, secrets: Set<string>): void {
  for (const statement of program?.body ?? []) walkStatement(statement, depth, names, used, secrets);
}

function walkStatement(node: Node, depth: number, names: TemplateNames, used: Set<string>, secrets: Set<string>): void {
  switch (node.type) {
    case 'ContentStatement':
    case 'CommentStatement':
      return;
    case 'MustacheStatement': {
      const mustache = node as hbs.AST.MustacheStatement;
      if (mustache.path.type !== 'PathExpression' || mustache.params.length || mustache.hash) {
        throw new TemplateProblem(`{{${describe(mustache.path)} …}} is not available: write {{name}} only (no helpers)`);
      }
      checkPath(mustache.path as Path, depth, names, used, secrets);
      return;
    }
    case 'BlockStatement': {
      const block = node as hbs.AST.BlockStatement;
      const helper = block.path.type === 'PathExpression' ? (block.path as Path).original : '';
      const allowed = names.kind === 'request' ? REQUEST_BLOCKS : RESPONSE_BLOCKS;
      if (!allowed.has(helper)) {
        throw new TemplateProblem(`{{#${describe(block.path)}}} is not available here; use ${[...allowed].map((name) => `{{#${name} …}}`).join(', ')}`);
      }
      const [param, ...rest] = block.params;
      if (!param || rest.length || block.hash || param.type !== 'PathExpression') {
        throw new TemplateProblem(`{{#${helper}}} takes exactly one name, e.g. {{#${helper} name}}…{{/${helper}}}`);
      }
      checkPath(param as Path, depth, names, used, secrets);
      walkProgram(block.program, SCOPING_BLOCKS.has(helper) ? depth + 1 : depth, names, used, secrets);
      walkProgram(block.inverse, depth, names, used, secrets);
      return;
    }
    default:
      throw new TemplateProblem('partials and decorators are not available in templates');
  }
}

function describe(node: Node): string {
  return node.type === 'PathExpression' ? (node as Path).original : node.type === 'SubExpression' ? '(…)' : String((node as hbs.AST.StringLiteral).original ?? node.type);
}

function checkPath(path: Path, depth: number, names: TemplateNames, used: Set<string>, secrets: Set<string>): void {
  const text = path.original;
  if (path.data) {
    if (names.kind === 'request') throw new TemplateProblem(`{{${text}}} is not available in request templates`);
    if (path.parts[0] !== 'root') return; // @index, @first, @last, @key inside {{#each}}
    return checkRoot(path.parts.slice(1), text, names, used, secrets);
  }
  // Inside {{#each}} / {{#with}} names are fields of the current item.
  if (depth - path.depth > 0) return;
  if (path.depth > depth) throw new TemplateProblem(`{{${text}}} reaches above the template's root`);
  if (!path.parts.length) {
    throw new TemplateProblem(names.kind === 'request' ? `{{${text}}} is not available in request templates; name a variable` : `{{${text}}} at the top of the template means the whole context; name a field`);
  }
  checkRoot(path.parts, text, names, used, secrets);
}

function checkRoot(parts: string[], text: string, names: TemplateNames, used: Set<string>, secrets: Set<string>): void {
  const [head, ...rest] = parts;
  if (head === undefined) return;
  if (head === 'secret') {
    if (names.kind === 'response') throw new TemplateProblem(`{{${text}}}: secrets are never shown to the model`);
    const name = rest.join('.');
    if (rest.length !== 1 || !SECRET_NAME.test(name)) throw new TemplateProblem(`{{${text}}}: a secret is written {{secret.NAME}} with NAME in capitals, digits and _`);
    secrets.add(name);
    return;
  }
  if (names.known.has(head)) {
    if (names.kind === 'request' && rest.length) throw new TemplateProblem(`{{${text}}}: ${head} is a single value; write {{${head}}}`);
    used.add(head);
    return;
  }
  if (names.openAnswer) return;
  const choices = [...names.known].sort();
  const hint = names.kind === 'request' ? [...choices, 'secret.NAME'] : choices;
  throw new TemplateProblem(`unknown placeholder {{${text}}}: ${head} is not ${names.kind === 'request' ? 'a variable of this tool' : 'a variable or picked field'} (known: ${hint.join(', ') || 'none'})`);
}
