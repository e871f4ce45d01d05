// `npm start` and `npm run token` as people run them: separate processes, real handlers,
// the ready line, --fresh, Ctrl-C (SIGTERM), and the token tool's argument checks.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../support/local-stack.js';

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

function run(script: string, args: string[], env: Record<string, string>): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', TSX, script, ...args], {
    cwd: process.cwd(),
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...env },
  });
}

async function runToEnd(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = run(script, args, env);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

describe('npm start', () => {
  const localDir = join(mkdtempSync(join(tmpdir(), 'cc-cli-')), '.local');
  let child: ChildProcessWithoutNullStreams;
  let stdout = '';
  let api = '';

  beforeAll(async () => {
    // Arrange: leftovers that --fresh must wipe.
    mkdirSync(localDir, { recursive: true });
    writeFileSync(join(localDir, 'leftover.txt'), 'stale');
    child = run('local/main.ts', ['--fresh', '--quiet'], { PORT: '0', LOCAL_DIR: localDir });
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', () => undefined);
    api = await pollUntil(() => /consent-capture ready at (\S+)\n/.exec(stdout)?.[1], { timeoutMs: 25_000, what: 'the ready line' });
  }, 30_000);

  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(join(localDir, '..'), { recursive: true, force: true });
  });

  it('prints exactly one ready line, after its start-up time, and writes stack.json first', () => {
    const stack = JSON.parse(readFileSync(join(localDir, 'stack.json'), 'utf8')) as { api: string };
    expect(stdout.match(/consent-capture ready at/g)).toHaveLength(1);
    expect(stdout).toMatch(/started in \d+ ms/);
    expect(stack.api).toBe(api);
  });

  it('wipes the state directory first with --fresh', () => {
    expect(existsSync(join(localDir, 'leftover.txt'))).toBe(false);
  });

  it('accepts a token from `npm run token` at the gateway', async () => {
    // Arrange
    const minted = await runToEnd('tools/token.ts', ['--employee', 'e-1', '--scope', 'consent:manage', '--ttl', '60'], { LOCAL_DIR: localDir });

    // Act
    const response = await fetch(`${api}/v1/consent`, { headers: { authorization: `Bearer ${minted.stdout.trim()}` } });
    await response.arrayBuffer();

    // Assert
    expect(minted.code).toBe(0);
    expect(minted.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect([401, 403]).not.toContain(response.status);
  });

  it('stops cleanly with exit code 0 on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe('npm run token', () => {
  const emptyDir = mkdtempSync(join(tmpdir(), 'cc-token-'));
  afterAll(() => rmSync(emptyDir, { recursive: true, force: true }));

  it.each([
    [['--scope', 'consent:manage'], /--employee is required/],
    [['--employee', 'e 1', '--scope', 'consent:manage'], /is not an id/],
    [['--employee', 'e-1'], /--scope is required/],
    [['--employee', 'e-1', '--scope', 'consent:manage admin:all'], /unknown scope "admin:all"/],
    [['--employee', 'e-1', '--scope', 'consent:manage', '--ttl', '-5'], /use '--ttl=-XYZ'/],
    [['--employee', 'e-1', '--scope', 'consent:manage', '--ttl=0'], /--ttl "0" is not a lifetime/],
    [['--employee', 'e-1', '--scope', 'consent:manage', '--ttl', '1.5'], /--ttl "1.5" is not a lifetime/],
    [['--employee', 'e-1', '--scope', 'consent:manage', '--bogus'], /Unknown option '--bogus'/],
  ])('exits 2 with a clear message for %j', async (args, message) => {
    const result = await runToEnd('tools/token.ts', args, { LOCAL_DIR: emptyDir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain('usage: npm run --silent token');
    expect(result.stdout).toBe('');
  });

  it('tells the user to run npm start when there is no local issuer', async () => {
    const result = await runToEnd('tools/token.ts', ['--employee', 'e-1', '--scope', 'consent:manage'], { LOCAL_DIR: emptyDir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/run `npm start` first/);
  });
});
