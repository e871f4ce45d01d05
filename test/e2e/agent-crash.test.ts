// Crash safety of the reference agent: it is killed with SIGKILL at random points while it captures,
// queues and sends (50 times), then drained. Every batch it ever queued is stored, no event is
// stored twice, and the queue never holds a file it cannot read. The agent is bundled once with
// esbuild so that each of the 50 starts costs a plain `node` start, not a TypeScript compile.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOTICE, startTestStack, type ConsentTestStack } from '../support/consent-api.js';
import { exportApi } from '../support/export-api.js';
import { downloadExport } from '../support/export-lines.js';

const KILLS = 50;
let t: ConsentTestStack;
let dir: string;
let bundle: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cc-crash-'));
  bundle = join(dir, 'agent.mjs');
  const [stack] = await Promise.all([
    startTestStack(),
    build({ entryPoints: ['agent/cli.ts'], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'silent' }),
  ]);
  t = stack;
}, 90_000);
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs the agent; with `killAfterMs`, kills it that long after it says it is capturing (its source
 * running, the first consent answer in), so every kill lands while it captures, queues and sends,
 * however slow the machine is to start it.
 */
function run(args: string[], env: Record<string, string>, killAfterMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (killAfterMs !== undefined && timer === undefined && stderr.includes('agent: capturing from')) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

describe('the reference agent under SIGKILL', () => {
  it(`loses no queued batch and stores no event twice across ${KILLS} kills`, async () => {
    // Arrange
    const employee = 'e-crash';
    const response = await t.call('POST', '/v1/consent', { token: await t.token(employee, 'consent:manage'), body: { scopes: ['keystrokes', 'clicks', 'app-focus'], ...NOTICE } });
    expect(response.status).toBe(200);
    const queue = join(dir, 'queue');
    const journal = join(dir, 'journal.txt');
    const env = { AGENT_TOKEN: await t.token(employee, 'capture:write', 900), AGENT_JOURNAL: journal, AGENT_KEYCHAIN: '0' };
    const args = ['--api', t.stack.api, '--source', 'synthetic', '--device', 'crash-box', '--queue', queue, '--flush-ms', '15', '--rate', '400', '--quiet'];
    // Seeded, so a failure replays: kill points 20 to 220 ms into capturing (flushes every 15 ms).
    let seed = Number(process.env['FC_SEED'] ?? 1414);
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };

    // Act
    let killed = 0;
    for (let i = 0; i < KILLS; i += 1) {
      const outcome = await run(args, env, 20 + Math.floor(next() * 200));
      if (outcome.signal === 'SIGKILL') killed += 1;
      else expect.fail(`run ${i} ended by itself (${outcome.code}): ${outcome.stderr.slice(0, 300)}`);
    }
    const drained = await run([...args.filter((a) => a !== '--quiet'), '--drain'], env);

    // Assert: the queue is empty and nothing in it was ever unreadable or set aside.
    expect(killed).toBe(KILLS);
    expect(drained.code, drained.stderr).toBe(0);
    expect(readdirSync(queue).filter((name) => name.endsWith('.batch'))).toEqual([]);
    expect(readdirSync(join(queue, 'rejected'))).toEqual([]);
    const counters = existsSync(join(queue, 'counters.json')) ? (JSON.parse(readFileSync(join(queue, 'counters.json'), 'utf8')) as Record<string, number>) : {};
    expect(counters['unreadable'] ?? 0).toBe(0);
    // Every batch the agent queued was stored, each event once.
    const queued = new Map(
      readFileSync(journal, 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(' '))
        .map(([batchId, events]) => [batchId ?? '', Number(events)]),
    );
    // Enough batches for the kills to have landed mid-queue and mid-send (about one run in two queues one).
    expect(queued.size).toBeGreaterThan(10);
    const api = exportApi(t);
    const requested = await api.requestExport(employee);
    const finished = await api.untilFinished(employee, String(requested.body['exportId']));
    const { lines } = await downloadExport(String(finished.url));
    const perBatch = new Map<string, number>();
    for (const line of lines) perBatch.set(String(line['batchId']), (perBatch.get(String(line['batchId'])) ?? 0) + 1);
    for (const [batchId, events] of queued) expect(perBatch.get(batchId), `batch ${batchId}`).toBe(events);
    const texts = lines.filter((line) => line['kind'] === 'keystroke').map((line) => String(line['text']));
    expect(new Set(texts).size).toBe(texts.length);
  }, 120_000);
});
