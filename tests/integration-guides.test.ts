/**
 * The integration guides (docs/integrations/) as a reader follows them: a real
 * `switchboard serve` on a fresh data directory with the example personas, and
 * every shell block of a guide run in bash in order, in one environment, from
 * the repository root (`npx switchboard ...`, `curl ...`, `npx tsx examples/...`).
 * What the guides show as output is compared with what really comes out, and
 * every code block must say how it is checked, so the guides cannot drift from
 * the code.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startServe, type ServeProcess } from './helpers/cli.ts';
import { docBlock, docBlocks, DocShell, outputShape, type BackgroundShell } from './helpers/doc-blocks.ts';
import { adminRequest } from './helpers/pbx.ts';
import { EXAMPLE_PERSONAS, REPO_ROOT, tempDir } from './helpers/server.ts';

const exec = promisify(execFile);
const GUIDES = path.join(REPO_ROOT, 'docs/integrations');
const guideFiles = fs.readdirSync(GUIDES).filter((name) => name.endsWith('.md')).map((name) => path.join(GUIDES, name));
/** "file#name" of every run block a test ran. */
const ran = new Set<string>();

interface Guide {
  serve: ServeProcess;
  shell: DocShell;
  run(name: string): Promise<string>;
  start(name: string): BackgroundShell;
  /** Non-empty lines of a documented output, by shape. */
  documented(name: string): string[];
}

/** A fresh server and terminal for one guide. */
function guide(file: string): Guide {
  const state = {} as Guide;
  const full = path.join(GUIDES, file);
  beforeAll(async () => {
    const data = tempDir(`guide-${path.basename(file, '.md')}`);
    state.serve = await startServe(['--data', data, '--personas', EXAMPLE_PERSONAS]);
    state.shell = new DocShell(state.serve.url, { SWITCHBOARD_DATA: data });
  });
  afterAll(async () => state.serve?.stop());
  state.run = async (name) => {
    ran.add(`${file}#${name}`);
    const result = await state.shell.run(docBlock(full, 'run', name).code);
    if (result.code !== 0) throw new Error(`${file} block "${name}" exited with ${result.code}:\n${result.stdout}\n${result.stderr}`);
    return result.stdout;
  };
  state.start = (name) => {
    ran.add(`${file}#${name}`);
    return state.shell.start(docBlock(full, 'run', name).code);
  };
  state.documented = (name) => shapes(docBlock(full, 'output', name).code);
  return state;
}

const shapes = (text: string): string[] =>
  text
    .split('\n')
    .filter((line) => line.trim() && !line.startsWith('npm warn'))
    .map(outputShape);

describe('walkthrough.md', () => {
  const g = guide('walkthrough.md');

  it('creates the keys and the caller’s contact', async () => {
    await g.run('walkthrough-setup');
    expect(g.shell.env.SWITCHBOARD_API_KEY).toMatch(/^sb_\S{20,}$/);
    expect(g.shell.env.SWITCHBOARD_ADMIN_KEY).toMatch(/^sb_\S{20,}$/);
    expect(g.shell.env.SWITCHBOARD_URL).toBe(g.serve.url);
    const contact = JSON.parse(await g.run('walkthrough-contact')) as { name: string; phone_numbers: { number: string }[] };
    expect(contact).toMatchObject({ name: 'Jane Doe', phone_numbers: [{ number: '+12125550100' }] });
  });

  it('plays the call with its PBX consumer in-process, as documented', async () => {
    const stdout = await g.run('walkthrough-run');
    expect(shapes(stdout)).toEqual(g.documented('walkthrough-run'));
    expect(stdout).toMatch(/lookup_contact \+12125550100 +Contact found: Jane Doe, company Doe Plumbing/);
    expect(stdout).toMatch(/transfer_to_sales +The call was transferred to Sales \(extension 600\)\.$/m);

    // What the server recorded, read through the admin API rather than the script's own output.
    const callId = /^Call (\S+):/.exec(stdout)?.[1] as string;
    const record = await adminRequest(g.serve.url, g.shell.env.SWITCHBOARD_ADMIN_KEY as string, 'GET', `/ucp/v2/accounts/acme/calls/${callId}`);
    expect(record.body).toMatchObject({
      call: { state: 'ended', transferred_to: '600', end_reason: 'caller hung up', source: 'pbx' },
      commands: [{ type: 'transfer', destination: '600', status: 'succeeded', target: { kind: 'queue', id: 'q-sales' } }],
    });
  });

  it('plays the call against a PBX consumer running in its own process', async () => {
    const pbx = g.start('walkthrough-pbx');
    try {
      await pbx.waitFor(/\[pbx\] connected to /);
      const stdout = await g.run('walkthrough-external-pbx');
      expect(stdout).not.toContain('[pbx]');
      expect(stdout).toMatch(/transfer_to_sales +The call was transferred to Sales \(extension 600\)\.$/m);
      await pbx.waitFor(/acknowledged\n/);
      expect(shapes(pbx.output())).toEqual(g.documented('walkthrough-pbx'));
    } finally {
      await pbx.stop();
    }
  });
});

describe('walkthrough.md: nobody consuming the call-events stream', () => {
  const g = guide('walkthrough.md');

  it('fails the transfer and the hang-up at once, in words for the caller, as documented', async () => {
    await g.run('walkthrough-setup');
    await g.run('walkthrough-contact');
    const stdout = await g.run('walkthrough-no-pbx');
    expect(shapes(stdout)).toEqual(g.documented('walkthrough-no-pbx'));
    expect(stdout).toMatch(/hangup_call +\(tool error\) The call cannot be ended from here right now: the phone system is not connected\. Say goodbye; the caller can hang up\.$/m);

    // Nothing was kept for a consumer that connects later: the transfer failed unsent, the hang-up was never queued.
    const callId = /^Call (\S+):/.exec(stdout)?.[1] as string;
    const record = await adminRequest(g.serve.url, g.shell.env.SWITCHBOARD_ADMIN_KEY as string, 'GET', `/ucp/v2/accounts/acme/calls/${callId}`);
    expect(record.body).toMatchObject({ call: { state: 'ended' }, commands: [{ type: 'transfer', status: 'failed', delivered_at: null }] });
    expect((record.body.commands as unknown[]).length).toBe(1);
    expect((record.body.events as { type: string; detail: { type?: string; reason?: string } }[]).some((event) => event.type === 'command_refused' && event.detail.type === 'hangup' && event.detail.reason === 'phone_system_not_connected')).toBe(true);
  });
});

describe('walkthrough.md: a phone system driven without consumer code', () => {
  const g = guide('walkthrough.md');

  it('transfers through the stand-in Asterisk, falling back from a busy user to the queue, as documented', async () => {
    const stdout = await g.run('walkthrough-asterisk');
    expect(shapes(stdout)).toEqual(g.documented('walkthrough-asterisk'));
    expect(stdout).toMatch(/transfer_to_dana +Dana Reyes \(extension 100\) is busy\. The call was transferred to Sales \(extension 600\)\.$/m);
  });
});

describe('pbx.md', () => {
  const g = guide('pbx.md');

  it('registers a call, reports DND, carries out the agent’s transfer on the events stream and ends the call, as documented', async () => {
    await g.run('pbx-setup');
    expect(g.shell.env.ADMIN_KEY).toMatch(/^sb_\S{20,}$/);
    expect(g.shell.env.MCP_KEY).toMatch(/^sb_\S{20,}$/);
    expect(shapes(await g.run('pbx-register'))).toEqual(g.documented('pbx-register'));
    expect(shapes(await g.run('pbx-dnd-set'))).toEqual(g.documented('pbx-dnd-set'));
    expect(shapes(await g.run('pbx-agent-availability'))).toEqual(g.documented('pbx-agent-availability'));

    const stream = g.start('pbx-stream');
    const agent = g.start('pbx-agent-transfer');
    try {
      await stream.waitFor(/^data: .*\n\n/m);
      expect(shapes(stream.output())).toEqual(g.documented('pbx-stream'));
      // The tool is still waiting for the PBX: the agent has printed nothing yet.
      expect(agent.output()).toBe('');
      expect(shapes(await g.run('pbx-ack'))).toEqual(g.documented('pbx-ack'));
      const transfer = await agent.exited;
      expect(transfer.code).toBe(0);
      expect(shapes(transfer.stdout)).toEqual(g.documented('pbx-agent-transfer'));
    } finally {
      await Promise.all([stream.stop(), agent.stop()]);
    }

    expect(shapes(await g.run('pbx-end'))).toEqual(g.documented('pbx-end'));
    expect(shapes(await g.run('pbx-dnd-clear'))).toEqual(g.documented('pbx-dnd-clear'));
  }, 90_000);
});

describe('every code block of the integration guides', () => {
  const blocks = guideFiles.flatMap((file) => docBlocks(file));
  const code = blocks.filter((block) => /^(sh|bash|shell|ts|typescript|js|javascript|python|py)$/.test(block.lang));

  it('says how it is checked: run by a test, an excerpt of a file, or not runnable here', () => {
    const unmarked = code.filter((block) => !block.marker || block.marker.kind === 'output').map((block) => `${block.file}:${block.line}`);
    expect(unmarked).toEqual([]);
  });

  it('quotes the examples verbatim where it is an excerpt', () => {
    for (const block of code.filter((candidate) => candidate.marker?.kind === 'excerpt')) {
      const source = fs.readFileSync(path.join(REPO_ROOT, block.marker?.value as string), 'utf8');
      expect(source, `${block.file}:${block.line}`).toContain(block.code);
    }
  });

  it('uses only options that exist where a switchboard command cannot run here', async () => {
    const commands = code
      .filter((block) => block.marker?.kind === 'not run here' && /^(sh|bash|shell)$/.test(block.lang))
      .flatMap((block) => block.code.replace(/\\\n/g, ' ').split('\n'))
      .map((line) => /switchboard (\w+)(.*)/.exec(line))
      .filter((match): match is RegExpExecArray => match !== null);
    for (const [, command, rest] of commands) {
      const { stdout } = await exec(process.execPath, [path.join(REPO_ROOT, 'bin/switchboard.mjs'), command as string, '--help']);
      for (const flag of (rest as string).match(/--[a-z-]+/g) ?? []) expect(stdout, `switchboard ${command} ${flag}`).toContain(flag);
    }
  });

  it('links only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const file of guideFiles) {
      for (const [, target] of fs.readFileSync(file, 'utf8').matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target as string)) continue;
        const [relative, anchor] = (target as string).split('#');
        const linked = relative ? path.resolve(path.dirname(file), relative) : file;
        if (!fs.existsSync(linked)) broken.push(`${path.basename(file)}: ${target}`);
        else if (anchor && !headingSlugs(linked).includes(anchor)) broken.push(`${path.basename(file)}: ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('is run by a test where it is marked to be run', () => {
    const marked = blocks.filter((block) => block.marker?.kind === 'run').map((block) => `${path.basename(block.file)}#${block.marker?.value}`);
    expect(marked.filter((name) => !ran.has(name))).toEqual([]);
  });
});

/** GitHub's anchors of a Markdown file's headings. */
function headingSlugs(file: string): string[] {
  return [...fs.readFileSync(file, 'utf8').matchAll(/^#{1,6} (.+)$/gm)].map(([, title]) =>
    (title as string)
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-'),
  );
}
