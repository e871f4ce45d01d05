// The reference agent: `npm run agent -- --api <url> --source synthetic|hooks [--employee <id>]`.
// Captures from the chosen source through the SDK, keeps a durable queue, and prints one live
// status line: captured, sent, refused, queued, dropped and the consent state.
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CaptureAgent, type AgentStatus } from './capture-agent.js';
import { DEFAULT_QUEUE_BYTES, DiskQueue } from './disk-queue.js';
import { loadQueueKey } from './key-store.js';
import { startHooksSource } from './sources/hooks.js';
import { startSyntheticSource } from './sources/synthetic.js';
import { FunctionTokenProvider, LocalTokenProvider, type TokenProvider } from './token-provider.js';

const USAGE =
  'usage: npm run agent -- --api <url> --source synthetic|hooks [--employee <id>] [--device <id>] [--queue <dir>] ' +
  '[--max-queue-mb 200] [--rate 50] [--flush-ms 10000] [--poll-ms 60000] [--drain] [--quiet]';

function fail(message: string): never {
  process.stderr.write(`agent: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      api: { type: 'string' },
      source: { type: 'string', default: 'synthetic' },
      employee: { type: 'string' },
      device: { type: 'string', default: 'reference-agent' },
      queue: { type: 'string' },
      'max-queue-mb': { type: 'string', default: String(DEFAULT_QUEUE_BYTES / 1024 / 1024) },
      rate: { type: 'string', default: '50' },
      'flush-ms': { type: 'string', default: '10000' },
      'poll-ms': { type: 'string', default: '60000' },
      drain: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (error) {
  fail(error instanceof Error ? error.message : 'bad arguments');
}

const str = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
const num = (name: string): number => {
  const n = Number(str(name));
  if (!Number.isFinite(n) || n <= 0) fail(`--${name} must be a positive number`);
  return n;
};

function apiUrl(): string {
  const given = str('api');
  if (given !== undefined) return given.replace(/\/$/, '');
  try {
    return (JSON.parse(readFileSync(resolve(process.env['LOCAL_DIR'] ?? '.local', 'stack.json'), 'utf8')) as { api: string }).api;
  } catch {
    fail('give --api, or start the local stack (npm start) so .local/stack.json names it');
  }
}

function tokens(): TokenProvider {
  // A token handed over by the environment (tests, or a wrapper that already holds one).
  const fixed = process.env['AGENT_TOKEN'];
  if (fixed !== undefined && fixed !== '') return new FunctionTokenProvider(async () => fixed);
  const employee = str('employee');
  if (employee === undefined) fail('give --employee <id> (the local issuer mints its token), or AGENT_TOKEN');
  return new LocalTokenProvider(employee, process.cwd());
}

function statusLine(s: AgentStatus): string {
  const retry = s.retryAt === undefined ? '' : ` · retry in ${Math.max(0, Math.round((s.retryAt - Date.now()) / 1000))} s`;
  return `captured ${s.captured} · sent ${s.sent} · refused ${s.refused} · excluded ${s.excluded} · queued ${s.queued} · dropped ${s.dropped} · consent ${s.consent}${retry}`;
}

async function main(): Promise<void> {
  const source = str('source');
  if (source !== 'synthetic' && source !== 'hooks') fail('--source must be synthetic or hooks');
  const device = str('device') ?? 'reference-agent';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(device)) fail('--device must match ^[A-Za-z0-9_-]{1,64}$');
  const queueDir = str('queue') ?? join(homedir(), '.consent-capture', 'queue');
  mkdirSync(queueDir, { recursive: true, mode: 0o700 });
  const { key } = await loadQueueKey(device, join(queueDir, '..', `${device}.key`), { keychain: process.env['AGENT_KEYCHAIN'] !== '0' });
  const queue = new DiskQueue(queueDir, key, num('max-queue-mb') * 1024 * 1024);
  const agent = new CaptureAgent({
    api: apiUrl(),
    deviceId: device,
    tokens: tokens(),
    queue,
    flushIntervalMs: num('flush-ms'),
    pollIntervalMs: num('poll-ms'),
    // A line per queued batch, for tests that check nothing queued is ever lost.
    ...(process.env['AGENT_JOURNAL'] ? { onQueued: (batchId: string, events: number) => appendFileSync(process.env['AGENT_JOURNAL'] ?? '', `${batchId} ${events}\n`) } : {}),
    onReport: (report) => process.stderr.write(`\nagent: ${report.kind}${report.batchId === undefined ? '' : ` ${report.batchId}`}: ${report.message}\n`),
  });
  if (values['drain'] === true) {
    // Send what the queue holds, then exit: 0 once empty.
    await agent.poll();
    for (let round = 0; round < 50 && queue.list().length > 0; round += 1) {
      await agent.send();
      if (queue.list().length > 0) await new Promise((r) => setTimeout(r, 100));
    }
    process.stdout.write(`${statusLine(agent.status)}\n`);
    process.exit(queue.list().length === 0 ? 0 : 1);
  }
  await agent.poll();
  agent.start();
  const input =
    source === 'hooks'
      ? await startHooksSource((event) => agent.capture(event)).catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)))
      : startSyntheticSource((event) => agent.capture(event), { perSecond: num('rate'), prefix: `${device}-${process.pid}` });
  // For scripts and tests: the source is running and the first consent answer is in.
  process.stderr.write(`agent: capturing from ${source}; consent ${agent.status.consent}\n`);
  const tty = process.stdout.isTTY === true;
  const printer = setInterval(() => {
    if (values['quiet'] === true) return;
    process.stdout.write(tty ? `\r${statusLine(agent.status)}\x1b[K` : `${statusLine(agent.status)}\n`);
  }, tty ? 500 : 5000);
  const shutdown = async (): Promise<void> => {
    input.stop();
    clearInterval(printer);
    await agent.stop();
    process.stdout.write(`\n${statusLine(agent.status)}\n`);
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
}

void main();
