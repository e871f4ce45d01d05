// `npm run bench:consent`: how fast a pause reaches the key, locally.
//   1. pause-to-deny: from POST /v1/consent/pause returning to the ingest role's GenerateDataKey
//      being denied, and the pause's own latency against a GET /v1/consent in the same run;
//   2. pause storm: N employees (default 1,000) pause at once; time until every key policy
//      carries the Paused statement, checked with GetKeyPolicy.
// docs/pause-propagation.md says what these numbers become in AWS.
//
// Flags: --employees <n> (1000), --samples <n> (50), --concurrency <n> (64, for the set-up grants).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DescribeKeyCommand, GenerateDataKeyCommand, GetKeyPolicyCommand, KMSClient } from '@aws-sdk/client-kms';
import { AdjustableClock } from '../../local/kms/clock.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { parseBenchArgs } from '../bench-args.js';

const { values: flags } = parseBenchArgs(
  'bench:consent',
  {
    employees: { type: 'string', default: '1000' },
    samples: { type: 'string', default: '50' },
    concurrency: { type: 'string', default: '64' },
  },
  '[--employees N] [--samples N] [--concurrency N]',
);

function count(name: string, value: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    process.stderr.write(`bench:consent: --${name} ${value} must be a whole number from 1 to ${max}\n`);
    process.exit(2);
  }
  return n;
}
const employees = count('employees', flags.employees, 20_000);
const samples = count('samples', flags.samples, 10_000);
const concurrency = count('concurrency', flags.concurrency, 512);
const NOTICE = { noticeVersion: 'bench', noticeSha256: 'c'.repeat(64) };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function summary(values: number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await work(item);
      }
    }),
  );
}

async function main(): Promise<void> {
  const localDir = mkdtempSync(join(tmpdir(), 'cc-bench-consent-'));
  const stack: LocalStack = await startLocalStack({ localDir, port: 0, clock: new AdjustableClock(), onFunctionLog: () => undefined });
  const { principals, region } = stack.identity;
  const ingest = new KMSClient({ endpoint: stack.endpoints.kms, region, credentials: principals.ingest, maxAttempts: 1 });
  // Reads key policies as the steward role: the consent role has no access to any key.
  const steward = new KMSClient({ endpoint: stack.endpoints.kms, region, credentials: principals.steward, maxAttempts: 1 });
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`${stack.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 200)}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const denied = async (employeeId: string) => {
    try {
      await ingest.send(new GenerateDataKeyCommand({ KeyId: `alias/consent-capture/${employeeId}`, KeySpec: 'AES_256', EncryptionContext: { employeeId, scope: 'clicks', batchId: 'b' } }));
      return false;
    } catch (error) {
      if ((error as Error).name === 'AccessDeniedException') return true;
      throw error;
    }
  };

  try {
    process.stdout.write(`local stack up in ${stack.startupMs} ms\n`);

    // 1. pause-to-deny, and pause latency against a GET in the same run.
    const pauseMs: number[] = [];
    const getMs: number[] = [];
    const toDenyMs: number[] = [];
    for (let n = 0; n < samples; n += 1) {
      const id = `e-latency-${n}`;
      const token = await stack.issuer.mint({ subject: id, scope: 'consent:manage' });
      await call('POST', '/v1/consent', token, { scopes: ['clicks'], ...NOTICE });
      if (await denied(id)) throw new Error(`${id}: ingest denied before any pause`);
      let t0 = performance.now();
      await call('GET', '/v1/consent', token);
      getMs.push(performance.now() - t0);
      t0 = performance.now();
      await call('POST', '/v1/consent/pause', token, { minutes: 60 });
      const returned = performance.now();
      pauseMs.push(returned - t0);
      while (!(await denied(id))) {
        if (performance.now() - returned > 10_000) throw new Error(`${id}: still allowed 10 s after the pause returned`);
      }
      toDenyMs.push(performance.now() - returned);
    }
    const pause = summary(pauseMs);
    const get = summary(getMs);
    const toDeny = summary(toDenyMs);
    process.stdout.write(
      `pause latency   p50 ${pause.p50.toFixed(1)} ms  p99 ${pause.p99.toFixed(1)} ms  (GET /v1/consent p50 ${get.p50.toFixed(1)} ms; ratio ${(pause.p50 / get.p50).toFixed(2)}x)\n` +
        `pause → denied  p50 ${toDeny.p50.toFixed(1)} ms  p99 ${toDeny.p99.toFixed(1)} ms  (one GenerateDataKey round trip: the policy is on the key before the response)\n`,
    );

    // 2. pause storm.
    const ids = Array.from({ length: employees }, (_, n) => `e-storm-${n}`);
    const tokens = new Map<string, string>();
    const setUp = performance.now();
    await pool(ids, concurrency, async (id) => {
      const token = await stack.issuer.mint({ subject: id, scope: 'consent:manage' });
      tokens.set(id, token);
      await call('POST', '/v1/consent', token, { scopes: ['clicks'], ...NOTICE });
    });
    process.stdout.write(`set-up: ${employees} first consents (key, alias, rotation, policy) in ${((performance.now() - setUp) / 1000).toFixed(1)} s\n`);
    const stormStart = performance.now();
    const failures: string[] = [];
    await Promise.all(
      ids.map(async (id) => {
        try {
          await call('POST', '/v1/consent/pause', tokens.get(id) ?? '', { minutes: 60 });
        } catch (error) {
          failures.push(`${id}: ${(error as Error).message}`);
        }
      }),
    );
    const answered = performance.now() - stormStart;
    let unapplied = 0;
    await pool(ids, 32, async (id) => {
      // GetKeyPolicy takes a key id or ARN, never an alias.
      const described = await steward.send(new DescribeKeyCommand({ KeyId: `alias/consent-capture/${id}` }));
      const policy = await steward.send(new GetKeyPolicyCommand({ KeyId: described.KeyMetadata?.Arn, PolicyName: 'default' }));
      if (!policy?.Policy?.includes('"Sid":"Paused"')) unapplied += 1;
    });
    process.stdout.write(
      `pause storm: ${employees} pauses at once answered in ${(answered / 1000).toFixed(2)} s (${(employees / (answered / 1000)).toFixed(0)} pauses/s); ` +
        `${employees - unapplied} of ${employees} key policies carry Paused; ${failures.length} requests failed\n`,
    );
    for (const failure of failures.slice(0, 5)) process.stdout.write(`  failed: ${failure}\n`);
    process.stdout.write(
      `RESULT ${JSON.stringify({ pauseP50Ms: pause.p50, pauseP99Ms: pause.p99, getP50Ms: get.p50, pauseOverGet: pause.p50 / get.p50, toDenyP50Ms: toDeny.p50, toDenyP99Ms: toDeny.p99, stormEmployees: employees, stormSeconds: answered / 1000, stormUnapplied: unapplied, stormFailures: failures.length })}\n`,
    );
    if (unapplied > 0 || failures.length > 0) process.exitCode = 1;
  } finally {
    ingest.destroy();
    steward.destroy();
    await stack.close();
    rmSync(localDir, { recursive: true, force: true });
  }
}

await main();
