// bench:export: exports at least 200 MB of plaintext over at least 2,000 capture objects and
// reports the export's peak RSS and its throughput against a floor measured in the same run.
// - The objects are made directly in the local S3 with ingest's own sealing code (serialise +
//   seal under real data keys from the local KMS, as the ingest role), not through HTTP, to save time.
// - Each measured run is a child process (bench/export/export-child.ts), so its maxRSS is the
//   export's own: `floor` = GetObject + decrypt of the same objects into /dev/null; `export` =
//   the worker's core (list, get, decrypt through the grant, check, gzip, multipart upload).
// Usage: npm run bench:export -- [--objects 2000] [--events 560] [--max-seconds 1500]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KmsKeyringNode } from '@aws-crypto/client-node';
import { CreateGrantCommand, KMS, RetireGrantCommand } from '@aws-sdk/client-kms';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DEVICE_ID_METADATA } from '../../contract/resources.js';
import { exportFileKeys } from '../../contract/export-format.js';
import { redactEvents } from '../../lambdas/ingest/redaction.js';
import { parseBatch } from '../../lambdas/ingest/schemas.js';
import { objectKey, OBJECT_CONTENT_TYPE, seal, serialise } from '../../lambdas/ingest/sealing.js';
import { Ledger } from '../../lambdas/shared/ledger.js';
import { AdjustableClock } from '../../local/kms/clock.js';
import { LOCAL_RESOURCES, startLocalStack, type LocalStack } from '../../local/stack.js';
import { parseBenchArgs } from '../bench-args.js';
import { runBenchChild } from '../child-run.js';
import { generateBatch } from '../ingest/batch-generator.js';
import type { ChildConfig, ChildResult } from './export-child.js';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

const USAGE = '[--objects 2000] [--events 560] [--max-seconds 1500]';
const { values } = parseBenchArgs('bench:export', { objects: { type: 'string', default: '2000' }, events: { type: 'string', default: '560' }, 'max-seconds': { type: 'string', default: '1500' } }, USAGE);
const OBJECTS = Number(values.objects);
const EVENTS_PER_OBJECT = Number(values.events);
const MAX_SECONDS = Number(values['max-seconds']);
const EMPLOYEE = 'e-bench-export';
const RSS_LIMIT_MB = 256;
const GENERATION_CONCURRENCY = 4;
const NOTICE = { noticeVersion: '2026-11', noticeSha256: 'b'.repeat(64) };

const log = (line: string): void => void process.stdout.write(`${line}\n`);
const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);

function runChild(config: ChildConfig, deadline: number): Promise<ChildResult> {
  return runBenchChild<ChildConfig, ChildResult>(new URL('./export-child.ts', import.meta.url), config, deadline);
}

async function main(): Promise<void> {
  if (!Number.isInteger(OBJECTS) || OBJECTS < 1 || !Number.isInteger(EVENTS_PER_OBJECT) || EVENTS_PER_OBJECT < 1 || !(MAX_SECONDS > 0)) {
    process.stderr.write(`bench:export: --objects, --events and --max-seconds must be positive whole numbers\nusage: npm run bench:export -- ${USAGE}\n`);
    process.exit(2);
  }
  const deadline = Date.now() + MAX_SECONDS * 1000;
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
  const localDir = mkdtempSync(join(tmpdir(), 'cc-bench-export-'));
  let stack: LocalStack | undefined;
  const clients: { destroy(): void }[] = [];
  try {
    stack = await startLocalStack({ localDir, port: 0, clock: new AdjustableClock(), onFunctionLog: () => undefined });
    log(`local stack up in ${stack.startupMs} ms`);
    const { identity, endpoints } = stack;
    const as = (principal: 'ingest' | 'steward' | 'export' | 'admin') => ({ region: identity.region, credentials: { accessKeyId: identity.principals[principal].accessKeyId, secretAccessKey: identity.principals[principal].secretAccessKey } });

    const token = await stack.issuer.mint({ subject: EMPLOYEE, scope: 'consent:manage' });
    const consent = await fetch(`${stack.api}/v1/consent`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ scopes: ['keystrokes'], ...NOTICE }) });
    if (consent.status !== 200) throw new Error(`POST /v1/consent answered ${consent.status}`);
    const admin = DynamoDBDocumentClient.from(new DynamoDBClient({ ...as('admin'), endpoint: endpoints.dynamodb }));
    clients.push(admin);
    const keyArn = (await new Ledger(admin, LOCAL_RESOURCES.tables.ledger).latestEvent(EMPLOYEE))?.state.keyArn;
    if (keyArn === undefined) throw new Error('no key after consent');

    // The objects, as ingest makes them: redacted JSON Lines, gzip, a fresh data key per object.
    const ingestKms = new KMS({ ...as('ingest'), endpoint: endpoints.kms });
    const ingestS3 = new S3Client({ ...as('ingest'), endpoint: endpoints.s3, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
    clients.push(ingestKms, ingestS3);
    const keyring = new KmsKeyringNode({ generatorKeyId: keyArn, clientProvider: () => ingestKms });
    let plaintextBytes = 0;
    let events = 0;
    let next = 0;
    const now = new Date();
    const t0 = performance.now();
    const makeOne = async (n: number): Promise<void> => {
      const generated = generateBatch(90_000 + n, { events: EVENTS_PER_OBJECT, keystrokeShare: 1, now, batchId: `b-${String(n).padStart(6, '0')}` });
      const parsed = parseBatch(JSON.parse(generated.body), now);
      if (!parsed.ok) throw new Error(`generated batch ${n} does not parse`);
      const stored = redactEvents(parsed.batch.events).events;
      plaintextBytes += Buffer.byteLength(`${stored.map((e) => JSON.stringify(e)).join('\n')}\n`);
      events += stored.length;
      const body = await seal(keyring, serialise(stored), { employeeId: EMPLOYEE, scope: 'keystrokes', batchId: generated.batchId });
      await ingestS3.send(
        new PutObjectCommand({ Bucket: LOCAL_RESOURCES.buckets.captures, Key: objectKey(EMPLOYEE, 'keystrokes', generated.batchId, stored), Body: body, ContentType: OBJECT_CONTENT_TYPE, Metadata: { [DEVICE_ID_METADATA]: 'laptop-1' } }),
      );
    };
    await Promise.all(
      Array.from({ length: GENERATION_CONCURRENCY }, async () => {
        for (let n = next++; n < OBJECTS; n = next++) {
          await makeOne(n);
          if ((n + 1) % 250 === 0) log(`  generated ${n + 1}/${OBJECTS} objects (${mb(plaintextBytes)} MB plaintext)`);
          if (Date.now() > deadline) throw new Error('over the time cap while generating');
        }
      }),
    );
    log(`generated ${OBJECTS} objects, ${events} events, ${mb(plaintextBytes)} MB of plaintext JSON Lines in ${Math.round(performance.now() - t0)} ms`);

    const stewardKms = new KMS({ ...as('steward'), endpoint: endpoints.kms });
    const exportKms = new KMS({ ...as('export'), endpoint: endpoints.kms });
    clients.push(stewardKms, exportKms);
    const grant = await stewardKms.send(
      new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: identity.principals.export.arn, RetiringPrincipal: identity.principals.export.arn, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId: EMPLOYEE } } }),
    );
    if (grant.GrantToken === undefined || grant.GrantId === undefined) throw new Error('no grant');
    const base: Omit<ChildConfig, 'mode'> = {
      region: identity.region,
      endpoints: { kms: endpoints.kms, s3: endpoints.s3 },
      credentials: as('export').credentials,
      capturesBucket: LOCAL_RESOURCES.buckets.captures,
      exportsBucket: LOCAL_RESOURCES.buckets.exports,
      employeeId: EMPLOYEE,
      keyArn,
      grantToken: grant.GrantToken,
      fileKey: exportFileKeys(EMPLOYEE, 'x-bench').file,
    };
    const floor = await runChild({ ...base, mode: 'floor' }, deadline);
    log(`floor  (GetObject + decrypt → /dev/null): ${floor.objects} objects in ${floor.ms} ms, ${mb((plaintextBytes / floor.ms) * 1000)} MB/s of plaintext, peak RSS ${floor.maxRssMb} MB`);
    const exported = await runChild({ ...base, mode: 'export' }, deadline);
    log(`export (worker core → gzip multipart upload): ${exported.objects} objects, ${exported.lines} lines in ${exported.ms} ms, ${mb((plaintextBytes / exported.ms) * 1000)} MB/s of plaintext, peak RSS ${exported.maxRssMb} MB, file ${mb(exported.fileBytes ?? 0)} MB`);
    await exportKms.send(new RetireGrantCommand({ KeyId: keyArn, GrantId: grant.GrantId }));

    const ratio = exported.ms / floor.ms;
    log(`export / floor time: ${ratio.toFixed(2)}×`);
    const problems = [
      ...(plaintextBytes < 200e6 ? [`only ${mb(plaintextBytes)} MB of plaintext (need ≥ 200)`] : []),
      ...(OBJECTS < 2000 ? [`only ${OBJECTS} objects (need ≥ 2,000)`] : []),
      ...(exported.lines !== events || exported.unreadable !== 0 ? [`exported ${exported.lines} lines and ${exported.unreadable} unreadable objects, expected ${events} and 0`] : []),
      ...(exported.maxRssMb > RSS_LIMIT_MB ? [`peak RSS ${exported.maxRssMb} MB is over ${RSS_LIMIT_MB} MB`] : []),
    ];
    for (const problem of problems) log(`FAIL: ${problem}`);
    if (problems.length === 0) log(`ok: peak RSS ${exported.maxRssMb} MB ≤ ${RSS_LIMIT_MB} MB`);
    process.exitCode = problems.length === 0 ? 0 : 1;
  } finally {
    for (const client of clients) client.destroy();
    await stack?.close();
    rmSync(localDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:export: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
