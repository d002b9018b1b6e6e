/**
 * Talks to a test server the way operators do: the admin HTTP API with an
 * admin key, and the real CLI (`node bin/switchboard.mjs`) in a child process.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';

import { REPO_ROOT, type TestServer } from './server.ts';

export interface AdminResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body, or undefined when it is not JSON. */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test bodies are read field by field
}

export async function admin(server: TestServer, key: string, method: string, route: string, body?: unknown): Promise<AdminResponse> {
  const response = await fetch(new URL(`/ucp/v2/accounts/${route}`, server.url), {
    method,
    headers: { 'X-API-Key': key, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, 'bin/switchboard.mjs'), ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}
