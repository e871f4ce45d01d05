// `npm run smoke` as an operator runs it after a deploy, here against the local stack (all traffic
// to 127.0.0.1): the whole check passes and erases its employee; it refuses an employee with a
// consent history, fails naming the step on a wrong answer and still erases, and answers bad
// arguments and an unreachable API with one sentence and no stack trace.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSmoke as runSmokeCheck } from '../../tools/smoke-check.js';
import { NOTICE, startTestStack, type ConsentTestStack } from '../support/consent-api.js';

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const BOTH = 'consent:manage capture:write';

interface SmokeRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The check in this process, its lines collected as the command would print them. */
async function runSmoke(args: readonly string[]): Promise<SmokeRun> {
  let stdout = '';
  let stderr = '';
  const code = await runSmokeCheck(args, { out: (line) => (stdout += `${line}\n`), err: (line) => (stderr += `${line}\n`) });
  return { code, stdout, stderr };
}

/** Runs `tsx tools/smoke.ts` (what `npm run smoke` runs); asynchronous, since the stack it calls runs in this process. */
function runSmokeCommand(args: readonly string[]): Promise<SmokeRun> {
  const child = spawn(process.execPath, ['--import', TSX, 'tools/smoke.ts', ...args], {
    cwd: process.cwd(),
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** A port on 127.0.0.1 nothing listens on: bound, noted, closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function steps(stdout: string): string[] {
  return stdout.split('\n').filter((line) => /^(ok  |FAIL) +\d+\. /.test(line));
}

let t: ConsentTestStack;
let api: string;
beforeAll(async () => {
  t = await startTestStack();
  api = t.local.api;
}, 60_000);
afterAll(async () => {
  await t?.close();
});

describe('npm run smoke against a running stack', () => {
  it('exits 0 as a command when every answer is the expected one', async () => {
    const run = await runSmokeCommand(['--api', api, '--token', await t.token('e-smoke-0', BOTH)]);

    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/smoke test passed\n$/);
  }, 60_000);

  it('passes every step with one token, waits for purged, and leaves the employee erased', async () => {
    const run = await runSmoke(['--api', api, '--token', await t.token('e-smoke-1', BOTH), '--wait-purged', '--purge-timeout', '60']);

    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(steps(run.stdout).map((line) => line.replace(/\(\d+ ms\)$/, '').replace(/\s+/g, ' ').trim())).toEqual([
      'ok 1. read consent (throwaway check) GET /v1/consent → 200',
      'ok 2. grant keystrokes and clicks POST /v1/consent → 200',
      'ok 3. read consent as the agent GET /v1/consent → 200',
      'ok 4. send a batch POST /v1/events → 202',
      'ok 5. pause for 5 minutes POST /v1/consent/pause → 200',
      'ok 6. send a batch while paused POST /v1/events → 403 capture-not-permitted',
      'ok 7. resume POST /v1/consent/resume → 200',
      'ok 8. request an export (if deployed) POST /v1/exports → 202',
      'ok 9. withdraw and erase POST /v1/consent/revoke → 200',
    ]);
    // The stack deploys exports now; an API without the route would answer 404 and be skipped.
    expect(run.stdout).not.toContain('no export route on this API: skipped');
    expect(run.stdout).toMatch(/purged .*GET \/v1\/consent → 200 purged/);
    expect((await t.ledger.latestEvent('e-smoke-1'))?.state.status).toBe('purged');
  }, 60_000);

  it('accepts separate consent and agent tokens', async () => {
    const run = await runSmoke(['--api', api, '--consent-token', await t.token('e-smoke-2', 'consent:manage'), '--agent-token', await t.token('e-smoke-2', 'capture:write')]);

    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(steps(run.stdout)).toHaveLength(9);
    expect(['purging', 'purged']).toContain((await t.ledger.latestEvent('e-smoke-2'))?.state.status);
  }, 60_000);

  it('refuses an employee with a consent history and changes nothing', async () => {
    const manage = await t.token('e-smoke-real', 'consent:manage');
    await t.call('POST', '/v1/consent', { token: manage, body: { scopes: ['clicks'], ...NOTICE } });
    const before = await t.ledger.latestEvent('e-smoke-real');

    const run = await runSmoke(['--api', api, '--token', await t.token('e-smoke-real', BOTH)]);

    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^smoke: employee e-smoke-real has a consent history \(status active, 1 events\); .*throwaway employee id\n$/);
    expect((await t.ledger.latestEvent('e-smoke-real'))?.sequence).toBe(before?.sequence);
  }, 60_000);

  it('fails naming the step when an answer is wrong, and still erases the employee', async () => {
    // A token without capture:write: the batch is refused by scope, not stored.
    const run = await runSmoke(['--api', api, '--token', await t.token('e-smoke-3', 'consent:manage')]);

    expect(run.code).toBe(1);
    expect(run.stderr).toBe('smoke test FAILED: step 4 (send a batch): expected 202, got 403 forbidden\n');
    expect(run.stdout).toContain('clean-up: erasing the throwaway employee');
    expect(['purging', 'purged']).toContain((await t.ledger.latestEvent('e-smoke-3'))?.state.status);
  }, 60_000);

  it('answers an unreachable API and bad arguments with one sentence and exit 2, no stack trace, as a command', async () => {
    const token = await t.token('e-smoke-4', BOTH);

    const unreachable = await runSmokeCommand(['--api', `http://127.0.0.1:${await closedPort()}`, '--token', token]);
    const noToken = await runSmokeCommand(['--api', api]);

    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/^smoke: the API at http:\/\/127\.0\.0\.1:\d+ does not answer \(ECONNREFUSED\)\n$/);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toMatch(/^smoke: give --token, or both --consent-token and --agent-token\nusage: /);
    for (const run of [unreachable, noToken]) expect(run.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});
