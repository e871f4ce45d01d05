// `npm run demo` as people run it: a separate process against a running local stack. It tells the
// whole story and exits 0; it exits 1 with one plain sentence when no stack answers, and exits 1
// naming the step when an answer differs from the story (it doubles as a smoke test).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateIssuer } from '../../local/issuer.js';
import { startTestStack, type TestStack } from '../support/local-stack.js';
import type { TrailRecord } from '../support/local-kms.js';

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const NOT_RUNNING = 'start the local stack first: npm start';

interface DemoRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `tsx tools/demo.ts` (what `npm run demo` runs) from the repo root. Asynchronous on purpose:
 * the stack it talks to runs in this process and must keep answering meanwhile.
 */
function runDemo(localDir: string): Promise<DemoRun> {
  const child = spawn(process.execPath, ['--import', TSX, 'tools/demo.ts'], {
    cwd: process.cwd(),
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', LOCAL_DIR: localDir },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

function roleOf(record: TrailRecord): string {
  return record.userIdentity.sessionContext?.sessionIssuer.arn.split('/').pop() ?? '';
}

/** The rows of the demo's CloudTrail table: time, principal, event, scope, outcome, step. */
function tableRows(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((line) => /^\s+\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\s/.test(line))
    .map((line) => line.trim().split(/\s{2,}/));
}

describe('npm run demo against a running local stack', () => {
  let t: TestStack;
  let run: DemoRun;
  let employeeId: string;
  let keyRecords: TrailRecord[];

  beforeAll(async () => {
    t = await startTestStack();
    run = await runDemo(t.localDir);
    employeeId = /employee (demo-[a-z0-9]{6})/.exec(run.stdout)?.[1] ?? '';
    const trail = t.trail();
    const created = trail.find(
      (r) => r.eventName === 'CreateKey' && ((r.requestParameters?.['tags'] as { TagKey: string; TagValue: string }[] | undefined) ?? []).some((tag) => tag.TagKey === 'employeeId' && tag.TagValue === employeeId),
    );
    const keyArn = created?.resources[0]?.ARN ?? '';
    keyRecords = trail.filter((r) => r.resources.some((res) => res.ARN === keyArn));
  }, 60_000);

  afterAll(async () => {
    await t?.close();
  });

  it('tells the whole story and exits 0 within its time budget', () => {
    const seconds = Number(/every answer as expected \((\d+(?:\.\d+)?) s\)/.exec(run.stdout)?.[1] ?? 'NaN');

    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(employeeId).toMatch(/^demo-[a-z0-9]{6}$/);
    expect(seconds).toBeLessThan(10);
  });

  it('numbers its steps and prints no colour codes when its output is not a terminal', () => {
    const numbered = run.stdout.split('\n').filter((line) => /^\s?\d{1,2}\. /.test(line));

    expect(numbered.map((line) => Number(line.trim().split('.')[0]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(run.stdout).not.toContain('\x1b[');
  });

  it('shows consent given, a batch stored with its redactions, and an unconsented scope refused', () => {
    expect(run.stdout).toMatch(/sha256 of the notice: [0-9a-f]{64}/);
    expect(run.stdout).toMatch(/POST \/v1\/consent → 200 status=active scopes=\[keystrokes,clicks\]/);
    expect(run.stdout).toMatch(/POST \/v1\/events → 202 batchId=\S+ stored=\{clicks:2, keystrokes:3\} refused=\{\} redacted=2/);
    expect(run.stdout).toMatch(/POST \/v1\/events → 403 error=capture-not-permitted refused=\{app-focus:scope-not-consented\}/);
  });

  it('shows the pause refusing a batch, and the same batchId stored after the resume (but for the keystroke typed during the pause) and then answered as a duplicate', () => {
    const refused = /POST \/v1\/events → 403 error=capture-not-permitted refused=\{clicks:paused, keystrokes:paused\}/.exec(run.stdout);
    const batchId = /the agent sends the paused batch again, same batchId (\S+)/.exec(run.stdout)?.[1] ?? 'missing';

    expect(run.stdout).toMatch(/POST \/v1\/consent\/pause → 200 status=paused/);
    expect(refused).not.toBeNull();
    expect(run.stdout).toContain(`POST /v1/events → 202 batchId=${batchId} stored={clicks:1, keystrokes:1} refused={keystrokes:{outsideConsent:1}}`);
    expect(run.stdout).toContain(`POST /v1/events → 200 batchId=${batchId} duplicate=true`);
  });

  it('shows the withdrawal and a batch refused after it', () => {
    expect(run.stdout).toMatch(/POST \/v1\/consent\/revoke → 200 status=revoked/);
    expect(run.stdout).toMatch(/refused=\{clicks:consent-not-active, keystrokes:consent-not-active\}/);
  });

  it('tells honestly that KMS was not asked when ingest refused from the ledger', () => {
    expect(run.stdout).toContain('KMS not asked: ingest saw the pause in the consent ledger first');
    expect(run.stdout).toContain('KMS not asked: the batch was already stored');
  });

  it("prints one table row per trail record that names the employee's key, as the trail has it", () => {
    const rows = tableRows(run.stdout);

    expect(rows.map((row) => row.slice(1, 5))).toEqual(
      keyRecords.map((r) => [roleOf(r), r.eventName, ((r.requestParameters?.['encryptionContext'] as Record<string, string> | undefined) ?? {})['scope'] ?? '-', r.errorCode ?? 'allowed']),
    );
  });

  it("shows the ingest role's allowed data keys, the key steward's policy writes and KMS's refusals in the table", () => {
    const rows = tableRows(run.stdout);
    const allowedDataKeys = rows.filter(([, who, event, , outcome]) => who === 'consent-capture-ingest' && event === 'GenerateDataKey' && outcome === 'allowed');
    const policyWrites = rows.filter(([, who, event]) => who === 'consent-capture-steward' && event === 'PutKeyPolicy');
    const refusals = rows.filter(([, , event, , outcome]) => event === 'GenerateDataKey' && outcome === 'AccessDeniedException');

    // Within a step the scopes are sealed concurrently, so their order is not part of the story.
    expect(allowedDataKeys.map((row) => `${row[5]} ${row[3]}`).sort()).toEqual(['2 clicks', '2 keystrokes', '7 clicks', '7 keystrokes']);
    expect(policyWrites.map((row) => row[5])).toEqual(['1', '4', '6', '9']);
    expect(refusals.map((row) => row[5])).toEqual(['3 (demo cross-check)', '5 (demo cross-check)', '10 (demo cross-check)']);
    expect(run.stdout).toContain('data keys issued during the pause: 0; after the withdrawal: 0');
  });

  it('prints the consent history, oldest first', () => {
    const kinds = [...run.stdout.matchAll(/^\s+#\d+\s+\S+\s+(\S+)\s+by employee/gm)].map((m) => m[1]);

    expect(run.stdout).toContain('GET /v1/consent/history → 200 4 events');
    expect(kinds).toEqual(['granted', 'paused', 'resumed', 'revoked']);
  });
});

describe('npm run demo without a running stack', () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-demo-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('exits 1 with "start the local stack first" and no stack trace when LOCAL_DIR has no stack.json', async () => {
    const localDir = tempDir();

    const result = await runDemo(localDir);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(NOT_RUNNING);
    expect(result.stderr).toContain(join(localDir, 'stack.json'));
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(result.stdout).toBe('');
  });

  it('exits 1 the same way when stack.json names an API that does not answer', async () => {
    // Arrange: a stack.json and issuer left behind by a stack that has stopped.
    const localDir = tempDir();
    await loadOrCreateIssuer(localDir);
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
      });
    });
    const principal = { arn: 'arn:aws:iam::123456789012:role/x', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' };
    writeFileSync(
      join(localDir, 'stack.json'),
      JSON.stringify({
        api: `http://127.0.0.1:${port}`,
        region: 'us-east-1',
        account: '123456789012',
        endpoints: { kms: `http://127.0.0.1:${port}` },
        principals: { ingest: principal, steward: principal, auditor: principal },
        trail: join(localDir, 'cloudtrail'),
      }),
    );

    // Act
    const result = await runDemo(localDir);

    // Assert
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`the API at http://127.0.0.1:${port} does not answer`);
    expect(result.stderr).toContain(NOT_RUNNING);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('npm run demo when an answer differs from the story', () => {
  let t: TestStack;
  beforeAll(async () => {
    // An ingest that answers 200 with the request echoed, instead of storing the batch.
    t = await startTestStack({ functions: { ingest: { entry: 'test/fixtures/echo-handler.ts' } } });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
  });

  it('exits 1 and names the step, what it expected and what it got', async () => {
    const result = await runDemo(t.localDir);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('✗ step 2 (the agent checks consent, then sends keystrokes and clicks, one with an email and a card number) did not go as the story expects');
    expect(result.stderr).toMatch(/expected: 202 with batchId=\S+ stored=\{clicks:2, keystrokes:3\} refused=\{\} redacted=2/);
    expect(result.stderr).toMatch(/got: +200 /);
    expect(result.stdout).not.toContain('the story held');
  }, 30_000);
});
