// `npm run bench:agent`: the capture SDK's cost on a laptop. CPU time per 1,000 captured events
// (capture alone, and capture + flush to the encrypted disk queue + send to a fake API that
// answers 202), and this process's memory with 10,000 batches queued, against an idle node
// process started in the same run. The API is faked in-process so only the agent is measured.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBenchArgs } from '../bench-args.js';
import { CaptureAgent, type CaptureEvent } from '../../agent/capture-agent.js';
import { DiskQueue } from '../../agent/disk-queue.js';
import { FunctionTokenProvider } from '../../agent/token-provider.js';

const { values } = parseBenchArgs('bench:agent', { events: { type: 'string', default: '100000' }, batches: { type: 'string', default: '10000' } }, '[--events 100000] [--batches 10000]');
const EVENTS = Number(values.events);
const BATCHES = Number(values.batches);

const consent = { employeeId: 'e-bench', status: 'active', scopes: ['keystrokes', 'clicks', 'app-focus'], sequence: 1, windows: { keystrokes: [{ from: '2020-01-01T00:00:00Z' }], clicks: [{ from: '2020-01-01T00:00:00Z' }], 'app-focus': [{ from: '2020-01-01T00:00:00Z' }] } };
const fakeApi: typeof fetch = async (input) =>
  String(input).endsWith('/v1/consent')
    ? Response.json(consent, { headers: { etag: '"1"' } })
    : Response.json({ batchId: 'x', stored: { keystrokes: 1 }, refused: {}, redacted: 0 }, { status: 202 });

function agentIn(dir: string, maxBatchEvents = 1000): { agent: CaptureAgent; queue: DiskQueue } {
  const queue = new DiskQueue(dir, Buffer.alloc(32, 9), 2 * 1024 * 1024 * 1024);
  const agent = new CaptureAgent({ api: 'http://bench.invalid', deviceId: 'bench', tokens: new FunctionTokenProvider(async () => 'x.e30.x'), queue, fetch: fakeApi, maxBatchEvents, backoffBaseMs: 1 });
  return { agent, queue };
}

function event(n: number): CaptureEvent {
  const ts = Date.now();
  if (n % 20 === 0) return { kind: 'app-focus', ts, app: 'editor', title: `notes ${n}` };
  if (n % 5 === 0) return { kind: 'click', ts, x: n % 1000, y: n % 700, button: 'left', app: 'editor' };
  return { kind: 'keystroke', ts, text: `typing run number ${n} of the benchmark`, app: 'editor' };
}

const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cc-bench-agent-'));
  try {
    // 1. CPU per 1,000 events.
    const { agent } = agentIn(join(dir, 'cpu'), 1_000_000);
    await agent.poll();
    let start = process.cpuUsage();
    for (let n = 0; n < EVENTS; n += 1) agent.capture(event(n));
    const captureMs = cpuMs(process.cpuUsage(start));
    const { agent: full } = agentIn(join(dir, 'full'), 1000);
    await full.poll();
    start = process.cpuUsage();
    for (let n = 0; n < EVENTS; n += 1) {
      full.capture(event(n));
      if (n % 1000 === 999) {
        await full.flush();
        await full.send();
      }
    }
    const fullMs = cpuMs(process.cpuUsage(start));

    // 2. Memory with BATCHES queued (100 events each), against an idle node process.
    const { agent: holder, queue } = agentIn(join(dir, 'memory'), 100);
    await holder.poll();
    for (let n = 0; n < BATCHES * 100; n += 1) {
      holder.capture(event(n));
      if (n % 100 === 99) await holder.flush();
    }
    await holder.flush();
    globalThis.gc?.();
    const mine = process.memoryUsage();
    const idle = JSON.parse(spawnSync(process.execPath, ['-e', 'globalThis.gc?.(); console.log(JSON.stringify(process.memoryUsage()))'], { encoding: 'utf8' }).stdout) as NodeJS.MemoryUsage;
    const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
    console.log(`events: ${EVENTS}; CPU per 1,000 captured events: capture ${(captureMs / (EVENTS / 1000)).toFixed(2)} ms, capture + flush + encrypted queue + send ${(fullMs / (EVENTS / 1000)).toFixed(2)} ms`);
    console.log(`queued: ${queue.stats.batches} batches, ${mb(queue.stats.bytes)} MB on disk`);
    console.log(`memory: agent rss ${mb(mine.rss)} MB, heap used ${mb(mine.heapUsed)} MB; idle node rss ${mb(idle.rss)} MB, heap used ${mb(idle.heapUsed)} MB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
