// Part 2 of bench:ingest: POST /v1/events through the whole local stack (gateway with JWT checks,
// the ingest function in its worker, local DynamoDB, the local KMS enforcing each key policy, and
// local S3), at concurrency 1 and 4. Then one stored object is read back with the decryption
// snippet of docs/encryption.md, run as written, as the export role through a fresh grant.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { CreateGrantCommand, DescribeKeyCommand, KMSClient, RetireGrantCommand } from '@aws-sdk/client-kms';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { redactEvents } from '../../lambdas/ingest/redaction.js';
import { groupByScope, parseBatch } from '../../lambdas/ingest/schemas.js';
import { objectKey, OBJECT_CONTENT_TYPE } from '../../lambdas/ingest/sealing.js';
import { SCOPES } from '../../lambdas/shared/consent-model.js';
import { AdjustableClock } from '../../local/kms/clock.js';
import { LOCAL_RESOURCES, startLocalStack, type LocalStack } from '../../local/stack.js';
import { generateBatch, type GeneratedBatch } from './batch-generator.js';
import { kib, ms, percentile, table } from './measurement.js';

const execFileAsync = promisify(execFile);
const NOTICE = { noticeVersion: 'bench-ingest', noticeSha256: 'b'.repeat(64) };
/** The fenced block of docs/encryption.md this part runs: its first line names the file. */
const SNIPPET_MARKER = '// decrypt-capture.mjs';

export interface EndToEndOptions {
  readonly repoRoot: string;
  readonly concurrencies: readonly number[];
  /** Per concurrency level: stop at whichever comes first. */
  readonly secondsPerLevel: number;
  readonly maxBatchesPerLevel: number;
  readonly employees: number;
  readonly log: (text: string) => void;
}

export interface LevelResult {
  readonly concurrency: number;
  readonly batches: number;
  readonly seconds: number;
  readonly batchesPerSecond: number;
  readonly eventsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly failures: number;
}

export interface EndToEndResult {
  readonly startupMs: number;
  readonly firstBatchMs: number;
  readonly levels: readonly LevelResult[];
  readonly failures: readonly string[];
  readonly snippet: { readonly verified: boolean; readonly detail: string; readonly refusedWithoutGrant: boolean };
}

interface Sent {
  readonly employeeId: string;
  readonly batch: GeneratedBatch;
}

async function expectOk(response: Response, what: string, status = 200): Promise<Record<string, unknown>> {
  const text = await response.text();
  if (response.status !== status) throw new Error(`${what} answered ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** The JSON Lines ingest stores for `scope` of this body: what a correct decryption must print. */
function expectedJsonLines(body: string, scope: (typeof SCOPES)[number]): { text: string; key: (employeeId: string) => string } {
  const parsed = parseBatch(JSON.parse(body), new Date());
  if (!parsed.ok) throw new Error('a generated batch did not parse');
  const events = groupByScope(redactEvents(parsed.batch.events).events).get(scope) ?? [];
  return {
    text: `${events.map((e) => JSON.stringify(e)).join('\n')}\n`,
    key: (employeeId) => objectKey(employeeId, scope, parsed.batch.batchId, events),
  };
}

export function snippetFrom(markdown: string): string {
  const start = markdown.indexOf(`\`\`\`js\n${SNIPPET_MARKER}`);
  const end = start < 0 ? -1 : markdown.indexOf('\n```', start + 6);
  if (start < 0 || end < 0) throw new Error(`docs/encryption.md has no \`\`\`js block starting with "${SNIPPET_MARKER}"`);
  return markdown.slice(start + 6, end + 1);
}

export async function runEndToEnd(options: EndToEndOptions): Promise<EndToEndResult> {
  const { log } = options;
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
  const localDir = mkdtempSync(join(tmpdir(), 'cc-bench-ingest-'));
  const functionErrors: string[] = [];
  let stack: LocalStack | undefined;
  const clients: { destroy(): void }[] = [];
  try {
    stack = await startLocalStack({
      localDir,
      port: 0,
      clock: new AdjustableClock(),
      onFunctionLog: (fn, stream, line) => {
        if (stream === 'stderr' || line.includes('"level":"ERROR"')) functionErrors.push(`[${fn}] ${line.slice(0, 300)}`);
      },
    });
    const api = stack.api;
    if (!api.startsWith('http://127.0.0.1:')) throw new Error(`the local API is at ${api}, not on 127.0.0.1`);
    log(`local stack up in ${stack.startupMs} ms (API ${api}; KMS, DynamoDB, S3 on 127.0.0.1)\n`);
    const { issuer } = stack;

    // Consent to every scope for a few employees, over HTTP as each employee.
    const employees = Array.from({ length: options.employees }, (_, n) => `e-bench-${n}`);
    const captureTokens = new Map<string, string>();
    for (const employeeId of employees) {
      const token = await issuer.mint({ subject: employeeId, scope: 'consent:manage' });
      await expectOk(
        await fetch(`${api}/v1/consent`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ scopes: [...SCOPES], ...NOTICE }),
        }),
        `POST /v1/consent for ${employeeId}`,
      );
      captureTokens.set(employeeId, await issuer.mint({ subject: employeeId, scope: 'capture:write', ttlSeconds: 3600 }));
    }

    const now = new Date();
    let seed = 50_000;
    const nextBatch = (label: string, n: number): Sent => {
      const employeeId = employees[n % employees.length] as string;
      seed += 1;
      return { employeeId, batch: generateBatch(seed, { events: 1_000, now, batchId: `b-e2e-${label}-${n}` }) };
    };
    const failures: string[] = [];
    const send = async ({ employeeId, batch }: Sent): Promise<number> => {
      const t0 = performance.now();
      const response = await fetch(`${api}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${captureTokens.get(employeeId) ?? ''}`, 'content-type': 'application/json' },
        body: batch.body,
      });
      const text = await response.text();
      const elapsed = performance.now() - t0;
      if (response.status !== 202) {
        failures.push(`${batch.batchId}: ${response.status} ${text.slice(0, 200)}`);
        return Number.NaN;
      }
      const answer = JSON.parse(text) as { stored: Record<string, number>; refused: Record<string, string> };
      if (Object.keys(answer.refused).length > 0 || Object.keys(answer.stored).length !== 3) failures.push(`${batch.batchId}: stored ${JSON.stringify(answer.stored)}, refused ${JSON.stringify(answer.refused)}`);
      return elapsed;
    };

    // The first batch pays for the worker's first connections to DynamoDB, KMS and S3.
    const first = nextBatch('warm', 0);
    const firstBatchMs = await send(first);
    for (let n = 1; n < 4; n += 1) await send(nextBatch('warm', n));

    const levels: LevelResult[] = [];
    let probe: Sent | undefined;
    for (const concurrency of options.concurrencies) {
      const bodies = Array.from({ length: options.maxBatchesPerLevel }, (_, n) => nextBatch(`c${concurrency}`, n));
      probe ??= bodies[0];
      const latencies: number[] = [];
      const failedBefore = failures.length;
      let next = 0;
      const start = performance.now();
      const deadline = start + options.secondsPerLevel * 1000;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < bodies.length && performance.now() < deadline) {
            const item = bodies[next++] as Sent;
            const elapsed = await send(item);
            if (Number.isFinite(elapsed)) latencies.push(elapsed);
          }
        }),
      );
      const seconds = (performance.now() - start) / 1000;
      levels.push({
        concurrency,
        batches: latencies.length,
        seconds,
        batchesPerSecond: latencies.length / seconds,
        eventsPerSecond: (latencies.length * 1_000) / seconds,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        maxMs: Math.max(...latencies),
        failures: failures.length - failedBefore,
      });
    }
    log(`POST /v1/events, 1,000-event batches (~180 KiB JSON), ${employees.length} employees consenting to all 3 scopes:\n`);
    log(
      `${table(
        ['concurrency', 'batches', 'seconds', 'batches/s', 'events/s', 'p50 ms', 'p99 ms', 'max ms', 'failed'],
        levels.map((l) => [String(l.concurrency), String(l.batches), l.seconds.toFixed(1), l.batchesPerSecond.toFixed(1), l.eventsPerSecond.toFixed(0), ms(l.p50Ms), ms(l.p99Ms), ms(l.maxMs), String(l.failures)]),
      )}\n`,
    );
    log(
      `  first batch after start-up: ${ms(firstBatchMs)} ms. Each batch is 1 claim + 1 ledger query + 3 GenerateDataKey + 3 PutObject + 1 claim update.\n` +
        `  The local ingest function is one worker thread that serves concurrent invocations (Lambda would run one per sandbox),\n` +
        `  and the gateway, KMS, DynamoDB and S3 share this machine's ${availableParallelism()} CPUs with it.\n`,
    );

    const snippet = await verifySnippet(stack, probe ?? first, options.repoRoot, clients);
    log(`docs/encryption.md decryption snippet, run as written against the local stack: ${snippet.detail}\n\n`);
    if (functionErrors.length > 0) for (const line of functionErrors.slice(0, 5)) log(`  function log: ${line}\n`);
    return { startupMs: stack.startupMs, firstBatchMs, levels, failures, snippet };
  } finally {
    for (const client of clients) client.destroy();
    await stack?.close();
    rmSync(localDir, { recursive: true, force: true });
  }
}

/**
 * Reads back one stored keystrokes object and decrypts it with the doc's snippet in a child
 * process, as the export role through a grant minted by the consent role (as an export does);
 * then retires the grant and checks the same command is refused.
 */
async function verifySnippet(stack: LocalStack, sent: Sent, repoRoot: string, clients: { destroy(): void }[]): Promise<EndToEndResult['snippet']> {
  const { identity, endpoints } = stack;
  const p = identity.principals;
  const common = { region: identity.region, maxAttempts: 1 } as const;
  const creds = (name: 'admin' | 'consent' | 'export') => ({ accessKeyId: p[name].accessKeyId, secretAccessKey: p[name].secretAccessKey });
  const s3 = new S3Client({ ...common, endpoint: endpoints.s3, credentials: creds('admin'), forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
  const consentKms = new KMSClient({ ...common, endpoint: endpoints.kms, credentials: creds('consent') });
  const exportKms = new KMSClient({ ...common, endpoint: endpoints.kms, credentials: creds('export') });
  clients.push(s3, consentKms, exportKms);

  const { employeeId, batch } = sent;
  const expected = expectedJsonLines(batch.body, 'keystrokes');
  const object = await s3.send(new GetObjectCommand({ Bucket: LOCAL_RESOURCES.buckets.captures, Key: expected.key(employeeId) }));
  const ciphertext = Buffer.from((await object.Body?.transformToByteArray()) ?? new Uint8Array());
  if (object.ContentType !== OBJECT_CONTENT_TYPE || object.Metadata?.['format'] !== 'jsonl+gzip') {
    return { verified: false, refusedWithoutGrant: false, detail: `FAILED: object has content-type ${object.ContentType} and metadata ${JSON.stringify(object.Metadata)}` };
  }
  const described = await consentKms.send(new DescribeKeyCommand({ KeyId: `alias/consent-capture/${employeeId}` }));
  const keyArn = described.KeyMetadata?.Arn ?? '';
  const { GrantToken } = await consentKms.send(
    new CreateGrantCommand({
      KeyId: keyArn,
      GranteePrincipal: p.export.arn,
      RetiringPrincipal: p.export.arn,
      Operations: ['Decrypt'],
      Constraints: { EncryptionContextSubset: { employeeId } },
    }),
  );

  const dir = mkdtempSync(join(tmpdir(), 'cc-bench-snippet-'));
  try {
    // The snippet resolves @aws-crypto/client-node as a reader's project would, from node_modules.
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const script = join(dir, 'decrypt-capture.mjs');
    writeFileSync(script, snippetFrom(readFileSync(join(repoRoot, 'docs', 'encryption.md'), 'utf8')));
    const file = join(dir, 'object');
    writeFileSync(file, ciphertext);
    const run = (grantToken: string | undefined) =>
      execFileAsync(process.execPath, [script, file, keyArn, employeeId, 'keystrokes', batch.batchId], {
        cwd: dir,
        encoding: 'buffer',
        maxBuffer: 16 * 1024 * 1024,
        timeout: 20_000,
        // The export role's credentials and the local KMS endpoint; nothing may leave 127.0.0.1.
        env: {
          PATH: process.env['PATH'] ?? '',
          AWS_REGION: identity.region,
          AWS_ACCESS_KEY_ID: p.export.accessKeyId,
          AWS_SECRET_ACCESS_KEY: p.export.secretAccessKey,
          AWS_ENDPOINT_URL_KMS: endpoints.kms,
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_CONFIG_FILE: '/dev/null',
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          ...(grantToken === undefined ? {} : { GRANT_TOKEN: grantToken }),
        },
      });
    const { stdout } = await run(GrantToken);
    const matches = stdout.toString('utf8') === expected.text;
    const lines = expected.text.split('\n').length - 1;
    await exportKms.send(new RetireGrantCommand({ GrantToken }));
    let refusedWithoutGrant = false;
    try {
      await run(undefined);
    } catch (error) {
      refusedWithoutGrant = /AccessDenied|not authorized|Unable to decrypt/i.test(String((error as { stderr?: Buffer }).stderr ?? error));
    }
    return {
      verified: matches,
      refusedWithoutGrant,
      detail: matches
        ? `ok (${kib(ciphertext.length)} object → ${lines} JSON Lines, byte-identical to the redacted events; after RetireGrant the same command is ${refusedWithoutGrant ? 'refused' : 'NOT refused'})`
        : `FAILED: the snippet printed ${stdout.length} bytes, expected ${Buffer.byteLength(expected.text)}`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
