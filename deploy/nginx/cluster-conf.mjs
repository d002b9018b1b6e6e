#!/usr/bin/env node
/**
 * Writes the nginx configuration of a Switchboard cluster from its node list:
 * deploy/nginx/switchboard-cluster.conf expanded once per node (the template
 * says why requests of a session go to the node that opened it).
 *
 *   node deploy/nginx/cluster-conf.mjs [options] NAME=HOST:PORT ... > /etc/nginx/conf.d/switchboard.conf
 *
 * Plain Node.js without dependencies, so that it runs on the proxy host from
 * a checkout of this repository. The template language is the few line
 * directives the template describes, not a general one: what varies between
 * clusters is the node list and a handful of values, and the rest stays
 * readable as nginx configuration in the template itself.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const HELP = `Usage: node deploy/nginx/cluster-conf.mjs [options] NAME=HOST:PORT ...

Prints the nginx configuration (http context, e.g. /etc/nginx/conf.d/switchboard.conf) for the
Switchboard nodes given: NAME is a node's --node-name (SWITCHBOARD_NODE_NAME), HOST:PORT where
nginx reaches it. Requests of a session go to the node whose name starts its id; everything else
to any node.

Options:
  --server-name NAME   the public host name (default switchboard.example.com)
  --tls-cert FILE      certificate chain (default /etc/letsencrypt/live/<server-name>/fullchain.pem)
  --tls-key FILE       its key (default /etc/letsencrypt/live/<server-name>/privkey.pem)
  --plain ADDRESS      listen in plain HTTP on ADDRESS (e.g. 127.0.0.1:8080) instead of TLS on 443
  --body-limit SIZE    client_max_body_size, the same as the nodes' --body-limit (default 256k)
  --template FILE      the template (default switchboard-cluster.conf beside this script)
  --help               this text
`;

/** The rule of Switchboard's --node-name: it starts every session id, and nginx matches on it. */
const NODE_NAME = /^[A-Za-z0-9-]{1,63}$/;
const ADDRESS = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
/** Values end up inside nginx directives: nothing that could end one or open a block. */
const SAFE_VALUE = /^[^\s;{}'"#\\$]+$/;

class UsageError extends Error {}

function parseNode(spec) {
  const equals = spec.indexOf('=');
  const name = spec.slice(0, equals);
  const address = spec.slice(equals + 1);
  if (equals < 0 || !NODE_NAME.test(name)) {
    throw new UsageError(`"${spec}" is not NAME=HOST:PORT with NAME of letters, digits and "-" (at most 63), as --node-name takes`);
  }
  const port = ADDRESS.exec(address)?.[1];
  if (!port || Number(port) < 1 || Number(port) > 65535) {
    throw new UsageError(`"${address}" (node ${name}) is not HOST:PORT, e.g. 10.0.0.11:9443 or [fd00::11]:9443`);
  }
  return { node: name, address };
}

function checkValue(name, value) {
  if (!SAFE_VALUE.test(value)) throw new UsageError(`--${name} "${value}" holds spaces, quotes or one of ; { } # $ \\, which nginx would read as syntax`);
  return value;
}

/** The template as a tree of lines and blocks ("#> for each node", "#> for each other node", "#> if tls"). */
function parseTemplate(text, file) {
  const root = { kind: 'root', body: [] };
  const stack = [root];
  text.split('\n').forEach((line, index) => {
    const directive = /^\s*#>\s*(.*?)\s*$/.exec(line)?.[1];
    const top = stack[stack.length - 1];
    if (line.startsWith('##')) {
      // A note about the template, not part of the configuration.
    } else if (directive === undefined) {
      top.body.push(line);
    } else if (directive === 'for each node' || directive === 'for each other node' || directive === 'if tls') {
      const block = { kind: directive, body: [], then: undefined, line: index + 1 };
      top.body.push(block);
      stack.push(block);
    } else if (directive === 'else' && top.kind === 'if tls' && !top.then) {
      // What came so far is the TLS branch; what follows, up to "#> end", the plain one.
      top.then = top.body;
      top.body = [];
    } else if (directive === 'end' && stack.length > 1) {
      stack.pop();
    } else {
      throw new UsageError(`${file}:${index + 1}: "#> ${directive}" is not a directive here`);
    }
  });
  if (stack.length > 1) throw new UsageError(`${file}:${stack[stack.length - 1].line}: "#> ${stack[stack.length - 1].kind}" has no "#> end"`);
  return root;
}

function render(lines, scope, out) {
  for (const item of lines) {
    if (typeof item === 'string') {
      out.push(
        item.replace(/\{\{(\w+)\}\}/g, (_, name) => {
          if (scope[name] === undefined) throw new UsageError(`the template names {{${name}}}, which has no value here`);
          return scope[name];
        }),
      );
    } else if (item.kind === 'for each node') {
      for (const node of scope.nodes) render(item.body, { ...scope, ...node, current: node }, out);
    } else if (item.kind === 'for each other node') {
      if (!scope.current) throw new UsageError(`line ${item.line}: "#> for each other node" belongs inside "#> for each node"`);
      for (const node of scope.nodes) if (node !== scope.current) render(item.body, { ...scope, ...node }, out);
    } else if (scope.tls) {
      render(item.then ?? item.body, scope, out);
    } else if (item.then) {
      render(item.body, scope, out);
    }
  }
  return out;
}

export function clusterConf(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'server-name': { type: 'string', default: 'switchboard.example.com' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      plain: { type: 'string' },
      'body-limit': { type: 'string', default: '256k' },
      template: { type: 'string', default: path.join(import.meta.dirname, 'switchboard-cluster.conf') },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return HELP;
  if (positionals.length === 0) throw new UsageError('name at least one node as NAME=HOST:PORT');
  const nodes = positionals.map(parseNode);
  const seen = new Set();
  for (const { node } of nodes) {
    // nginx compares upstream names without regard to case.
    if (seen.has(node.toLowerCase())) throw new UsageError(`node ${node} is named twice (names are compared without regard to case)`);
    seen.add(node.toLowerCase());
  }
  const serverName = values['server-name'].split(/\s+/).filter(Boolean).map((name) => checkValue('server-name', name)).join(' ');
  if (!/^[0-9]+[km]?$/i.test(values['body-limit'])) throw new UsageError(`--body-limit "${values['body-limit']}" is not a size such as 256k or 1m`);
  const firstName = serverName.split(' ')[0];
  const scope = {
    nodes,
    tls: values.plain === undefined,
    server_name: serverName,
    tls_cert: checkValue('tls-cert', values['tls-cert'] ?? `/etc/letsencrypt/live/${firstName}/fullchain.pem`),
    tls_key: checkValue('tls-key', values['tls-key'] ?? `/etc/letsencrypt/live/${firstName}/privkey.pem`),
    listen: values.plain === undefined ? undefined : checkValue('plain', values.plain),
    body_limit: values['body-limit'],
  };
  const template = fs.readFileSync(values.template, 'utf8');
  const lines = render(parseTemplate(template, values.template).body, scope, []);
  const names = nodes.map((node) => `${node.node}=${node.address}`).join(' ');
  return [`# Generated by deploy/nginx/cluster-conf.mjs for ${names}: regenerate rather than edit.`, ...lines].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  try {
    process.stdout.write(clusterConf(process.argv.slice(2)));
  } catch (error) {
    const usage = error instanceof UsageError || error?.code?.startsWith?.('ERR_PARSE_ARGS');
    process.stderr.write(`cluster-conf: ${usage ? error.message : error.stack}\n`);
    process.exit(usage ? 2 : 1);
  }
}
