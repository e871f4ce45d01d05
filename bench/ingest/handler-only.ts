// Part 1 of bench:ingest: the ingest function's CPU path for one 1,000-event batch, with KMS and
// S3 round trips left out, against a floor of the least any ingest must do with the same bytes
// (JSON.parse, gzip, AES-256-GCM in-process). Also: where the time goes by stage, the frame
// length of the Encryption SDK message, and what gzip's level costs.
//
// A RawAesKeyringNode stands in for the KMS keyring: it makes a fresh 256-bit data key per message
// and wraps it with AES-GCM in-process, which is what KMS's GenerateDataKey does on the far side
// of a network round trip. Everything else (suite, frame length, context) is the product's own.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { gzip, gzipSync } from 'node:zlib';
import { Logger } from '@aws-lambda-powertools/logger';
import { AlgorithmSuiteIdentifier, buildClient, CommitmentPolicy, RawAesKeyringNode, RawAesWrappingSuiteIdentifier, type KeyringNode } from '@aws-crypto/client-node';
import type { S3Client } from '@aws-sdk/client-s3';
import type { KMSClient } from '@aws-sdk/client-kms';
import { QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BatchClaims } from '../../lambdas/ingest/batch-claims.js';
import { createIngestHandler } from '../../lambdas/ingest/ingest-handler.js';
import { IngestService } from '../../lambdas/ingest/ingest-service.js';
import { redactEvents } from '../../lambdas/ingest/redaction.js';
import { groupByScope, parseBatch, type CaptureEvent } from '../../lambdas/ingest/schemas.js';
import { ALGORITHM_SUITE, FRAME_LENGTH, seal, serialise } from '../../lambdas/ingest/sealing.js';
import { SCOPE_OF_EVENT_KIND, SCOPES } from '../../lambdas/shared/consent-model.js';
import type { ConsentEvent, ConsentState } from '../../lambdas/shared/consent-state.js';
import { foldWindows, isInside, windowSpans, windowsOf, type ConsentWindows } from '../../lambdas/shared/consent-windows.js';
import type { HttpEvent, HttpResult } from '../../lambdas/shared/http.js';
import { eventSortKey, Ledger } from '../../lambdas/shared/ledger.js';
import { decodeSealed, encodeSealed, sealedSpans } from '../../lambdas/shared/sealed-windows.js';
import { generateBatch, seededRandom, type GeneratedBatch } from './batch-generator.js';
import { kib, mibPerSecond, ms, percentile, Samples, table } from './measurement.js';

const gzipAsync = promisify(gzip);
const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

/** The acceptance target: the pipeline may take at most this many times the floor's time per batch. */
export const MAX_RATIO = 3;
const EVENTS_PER_BATCH = 1_000;
const DISTINCT_BATCHES = 16;
export const EMPLOYEE_ID = 'e-bench';
export const BENCH_KEY_ARN = 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000';
const FRAME_LENGTHS = [4 * 1024, 64 * 1024, 1024 * 1024] as const;

export interface HandlerOnlyOptions {
  /** Wall-clock budget of the main ABC rounds. */
  readonly seconds: number;
  /** Wall-clock budget of the frame-length rounds. */
  readonly frameSeconds: number;
  readonly log: (text: string) => void;
}

export interface HandlerOnlyResult {
  readonly rounds: number;
  readonly batchBytes: { readonly min: number; readonly median: number; readonly max: number };
  readonly floorMs: number;
  readonly pipelineMs: number;
  readonly handlerMs: number;
  /** Median over rounds of pipeline / floor, each pair measured back to back. */
  readonly ratio: number;
  readonly handlerRatio: number;
  readonly cpuMs: { readonly floor: number; readonly pipeline: number; readonly handler: number };
  readonly stagesMs: Readonly<Record<string, number>>;
  readonly frames: readonly FrameRow[];
  /** The signing suite on the typical keystrokes object, 64 KiB frames: what it would cost. */
  readonly signing: SigningComparison;
  readonly gzipLevels: readonly { readonly level: number; readonly ms: number; readonly bytes: number }[];
}

export interface SigningComparison {
  readonly encryptMs: number;
  readonly decryptMs: number;
  readonly overheadBytes: number;
}

export interface FrameRow {
  readonly object: string;
  readonly bytes: number;
  /** Milliseconds to seal (encrypt) one object, by variant: `raw`, `4096`, `65536`, `1048576`. */
  readonly encryptMs: Readonly<Record<string, number>>;
  readonly decryptMs: Readonly<Record<string, number>>;
  /** Ciphertext bytes beyond the plaintext, by variant. */
  readonly overheadBytes: Readonly<Record<string, number>>;
}

export function rawAesKeyring(): KeyringNode {
  return new RawAesKeyringNode({
    keyNamespace: 'bench-ingest',
    keyName: 'stand-in-for-the-employee-kms-key',
    unencryptedMasterKey: randomBytes(32),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
}

function aesGcm(plaintext: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', randomBytes(32), randomBytes(12));
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** A: the floor. What any ingest of these bytes costs at least: parse, compress, authenticated encryption. */
async function floor(batch: GeneratedBatch, bodyBytes: Buffer): Promise<number> {
  const json: unknown = JSON.parse(batch.body);
  const sealed = aesGcm(await gzipAsync(bodyBytes));
  return sealed.length + (json === null ? 0 : 1);
}

/**
 * The consent windows of a busy week: every scope consented 7 days ago, then paused and resumed
 * twice a day (14 pauses), so each scope has 15 windows to look through, as the newest ledger event would carry them.
 */
function busyWeekWindows(now: Date): ConsentWindows {
  const HOUR = 3_600_000;
  const base = now.getTime() - 7 * 24 * HOUR;
  let windows: ConsentWindows = {};
  const state = (status: 'active' | 'paused', pausedUntil?: number): ConsentState => ({
    employeeId: EMPLOYEE_ID,
    status,
    scopes: [...SCOPES],
    ...(pausedUntil === undefined ? {} : { pausedUntil: new Date(pausedUntil).toISOString() }),
    sequence: 1,
    updatedAt: now.toISOString(),
  });
  windows = foldWindows(windows, state('active'), new Date(base));
  for (let pause = 0; pause < 14; pause += 1) {
    const at = base + pause * 12 * HOUR + HOUR;
    windows = foldWindows(windows, state('paused', at + HOUR), new Date(at));
    windows = foldWindows(windows, state('active'), new Date(at + 30 * 60_000));
  }
  return windows;
}

/** The key description the steward would have sealed for `windows` (the same spans). */
function sealOf(windows: ConsentWindows): string {
  const spans = (scope: (typeof SCOPES)[number]) => (windows[scope] ?? []).map((w) => ({ from: Date.parse(w.from), to: w.to === undefined ? Infinity : Date.parse(w.to) }));
  return encodeSealed({ since: 0, windows: Object.fromEntries(SCOPES.map((scope) => [scope, spans(scope)])) });
}

/** A newest ledger event as the handler part reads it: an active consent to every scope, with a busy week's windows. */
function busyWeekEvent(): ConsentEvent {
  const at = new Date().toISOString();
  return {
    employeeId: EMPLOYEE_ID,
    sequence: 1,
    kind: 'granted',
    at,
    actor: { kind: 'employee', issuer: 'https://idp.example', subject: EMPLOYEE_ID },
    state: { employeeId: EMPLOYEE_ID, status: 'active', scopes: [...SCOPES], keyArn: BENCH_KEY_ARN, sequence: 1, updatedAt: at, windows: busyWeekWindows(new Date()) },
  };
}

/** B: the product's pipeline, stage by stage, one scope after another. */
async function pipeline(batch: GeneratedBatch, now: Date, keyring: KeyringNode, stages: Samples): Promise<number> {
  // What the newest ledger event holds (ingest reads it, it does not fold it): not timed.
  const recorded: ConsentState = { employeeId: EMPLOYEE_ID, status: 'active', scopes: [...SCOPES], sequence: 29, updatedAt: now.toISOString(), windows: busyWeekWindows(now) };
  const description = sealOf(busyWeekWindows(now));
  const t0 = performance.now();
  const json: unknown = JSON.parse(batch.body);
  const t1 = performance.now();
  const parsed = parseBatch(json, now);
  if (!parsed.ok) throw new Error(`generated batch ${batch.batchId} is invalid: ${JSON.stringify(parsed.details.slice(0, 3))}`);
  const t2 = performance.now();
  // The event-time consent check as IngestService does it: parse the newest event's windows and the
  // key's sealed windows once, test each ts against both.
  const spans = windowSpans(windowsOf(recorded));
  const sealed = sealedSpans(decodeSealed(description));
  const inside = parsed.batch.events.filter((event) => isInside(spans, SCOPE_OF_EVENT_KIND[event.kind], event.ts) && isInside(sealed, SCOPE_OF_EVENT_KIND[event.kind], event.ts));
  if (inside.length !== parsed.batch.events.length) throw new Error(`generated batch ${batch.batchId}: ${parsed.batch.events.length - inside.length} events fell outside the bench's consent windows`);
  const t2b = performance.now();
  const groups = groupByScope(redactEvents(inside).events);
  const t3 = performance.now();
  let serialiseMs = 0;
  let sealMs = 0;
  let bytes = 0;
  for (const [scope, events] of groups) {
    const a = performance.now();
    const compressed = await serialise(events);
    const b = performance.now();
    const sealed = await seal(keyring, compressed, { employeeId: EMPLOYEE_ID, scope, batchId: parsed.batch.batchId });
    sealMs += performance.now() - b;
    serialiseMs += b - a;
    bytes += sealed.length;
  }
  stages.add('parse', t1 - t0);
  stages.add('validate', t2 - t1);
  stages.add('windows', t2b - t2);
  stages.add('redact', t3 - t2b);
  stages.add('serialise', serialiseMs);
  stages.add('seal', sealMs);
  return bytes;
}

/**
 * C: the real handler (createIngestHandler + IngestService) with in-memory stand-ins for the
 * batch claims and ledger tables and for S3, and the raw AES keyring for KMS. The ledger's newest
 * event is `latest` (bench:ingest's history part passes events that end histories of other lengths).
 */
export function realHandler(keyring: KeyringNode, latest: ConsentEvent = busyWeekEvent()): (event: HttpEvent) => Promise<HttpResult> {
  // Claims (Put, Update) succeed; the ledger's newest event is an active consent to every scope.
  const db = {
    send: async (command: unknown) => (command instanceof QueryCommand ? { Items: [{ pk: latest.employeeId, sk: eventSortKey(latest.sequence), ...latest }] } : {}),
  } as unknown as DynamoDBDocumentClient;
  const s3 = { send: async () => ({}) } as unknown as S3Client;
  // The alias check: DescribeKey of the alias answers the ledger's key, and its sealed windows.
  const description = sealOf(latest.state.windows ?? {});
  const kms = { send: async () => ({ KeyMetadata: { Arn: latest.state.keyArn, Description: description } }) } as unknown as KMSClient;
  const logger = new Logger({ serviceName: 'bench-ingest', logLevel: 'SILENT' });
  const alarms = { raise: () => undefined };
  const service = new IngestService({ ledger: new Ledger(db, 'ledger'), claims: new BatchClaims(db, 'batches'), s3, bucket: 'captures', keyringFor: () => keyring, kms, logger, alarms });
  return createIngestHandler({ service, employeeIdClaim: 'sub', logger });
}

export function httpEvent(body: string, n: number): HttpEvent {
  return {
    body,
    isBase64Encoded: false,
    requestContext: { requestId: `r-${n}`, authorizer: { jwt: { claims: { iss: 'https://idp.example', sub: EMPLOYEE_ID, scope: 'capture:write' }, scopes: [] } } },
  } as unknown as HttpEvent;
}

function cpuMs(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** Runs `variant` once and records its wall-clock and CPU milliseconds (CPU includes zlib's threads). */
async function measure(samples: Samples, name: string, variant: () => Promise<unknown>): Promise<number> {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await variant();
  const elapsed = performance.now() - t0;
  samples.add(name, elapsed);
  samples.add(`${name}:cpu`, cpuMs(cpu));
  return elapsed;
}

export async function runHandlerOnly(options: HandlerOnlyOptions): Promise<HandlerOnlyResult> {
  const { log } = options;
  const now = new Date();
  const batches = Array.from({ length: DISTINCT_BATCHES }, (_, i) => generateBatch(1_000 + i, { events: EVENTS_PER_BATCH, now }));
  const bodies = batches.map((b) => Buffer.from(b.body, 'utf8'));
  const sizes = bodies.map((b) => b.length);
  const keyring = rawAesKeyring();
  const handler = realHandler(keyring);
  const samples = new Samples();
  const stages = new Samples();
  const ratios: number[] = [];
  const handlerRatios: number[] = [];

  log(
    `batches: ${DISTINCT_BATCHES} distinct, ${EVENTS_PER_BATCH} events each (~${Math.round((batches.reduce((s, b) => s + b.keystrokes, 0) / (DISTINCT_BATCHES * EVENTS_PER_BATCH)) * 100)}% keystrokes), ` +
      `JSON ${kib(Math.min(...sizes))}-${kib(Math.max(...sizes))}, ~${Math.round(batches.reduce((s, b) => s + b.planted, 0) / batches.length)} redactable strings each\n` +
      `KMS stand-in: RawAesKeyringNode (fresh 256-bit data key per message, wrapped with AES-256-GCM in-process) in place of\n` +
      `  KmsKeyringNode, so KMS's GenerateDataKey round trip (and S3's PutObject) is excluded; suite ${AlgorithmSuiteIdentifier[ALGORITHM_SUITE]}, frame ${FRAME_LENGTH} B\n`,
  );

  // Warm-up: JIT, zod's compiled parsers, zlib and crypto initialisation.
  for (let n = 0; n < 40; n += 1) {
    const i = n % batches.length;
    const batch = batches[i] as GeneratedBatch;
    await floor(batch, bodies[i] as Buffer);
    await pipeline(batch, now, keyring, new Samples());
    const response = await handler(httpEvent(batch.body, n));
    if (response.statusCode !== 202) throw new Error(`the handler answered ${response.statusCode}: ${String(response.body).slice(0, 300)}`);
  }

  // A B C, then C B A: each variant sees the same batch back to back, and a drift in machine load
  // during a round falls on both sides of the order equally.
  const deadline = performance.now() + options.seconds * 1000;
  let rounds = 0;
  while ((performance.now() < deadline && rounds < 2_000) || rounds < 30) {
    const i = rounds % batches.length;
    const batch = batches[i] as GeneratedBatch;
    const body = bodies[i] as Buffer;
    const run = {
      floor: () => measure(samples, 'floor', () => floor(batch, body)),
      pipeline: () => measure(samples, 'pipeline', () => pipeline(batch, now, keyring, stages)),
      handler: () =>
        measure(samples, 'handler', async () => {
          const response = await handler(httpEvent(batch.body, rounds));
          if (response.statusCode !== 202) throw new Error(`the handler answered ${response.statusCode}`);
        }),
    };
    const order = rounds % 2 === 0 ? (['floor', 'pipeline', 'handler'] as const) : (['handler', 'pipeline', 'floor'] as const);
    const took: Record<string, number> = {};
    for (const name of order) took[name] = await run[name]();
    ratios.push((took['pipeline'] ?? Number.NaN) / (took['floor'] ?? Number.NaN));
    handlerRatios.push((took['handler'] ?? Number.NaN) / (took['floor'] ?? Number.NaN));
    rounds += 1;
  }

  const result = {
    floorMs: samples.median('floor'),
    pipelineMs: samples.median('pipeline'),
    handlerMs: samples.median('handler'),
    ratio: percentile(ratios, 50),
    handlerRatio: percentile(handlerRatios, 50),
  };
  const cpu = { floor: samples.median('floor:cpu'), pipeline: samples.median('pipeline:cpu'), handler: samples.median('handler:cpu') };
  log(`${rounds} rounds (ABC/CBA), median ms per batch:\n`);
  log(
    `${table(
      ['variant', 'wall p50', 'wall p90', 'CPU p50', '× floor (p50 of per-round ratios)'],
      [
        ['floor: JSON.parse + gzip + AES-256-GCM (node:crypto)', ms(result.floorMs), ms(samples.percentile('floor', 90)), ms(cpu.floor), '1.00'],
        ['pipeline: parse, validate, redact, serialise+gzip, seal', ms(result.pipelineMs), ms(samples.percentile('pipeline', 90)), ms(cpu.pipeline), result.ratio.toFixed(2)],
        ['handler: createIngestHandler + IngestService (stubbed I/O)', ms(result.handlerMs), ms(samples.percentile('handler', 90)), ms(cpu.handler), result.handlerRatio.toFixed(2)],
      ],
    )}\n`,
  );
  const stageNames: readonly [string, string][] = [
    ['parse', 'JSON.parse'],
    ['validate', 'parseBatch (zod + time window)'],
    ['windows', 'consent windows at event time (15 per scope)'],
    ['redact', 'redactEvents + groupByScope'],
    ['serialise', 'serialise (JSON Lines + gzip), 3 scopes'],
    ['seal', 'seal (Encryption SDK), 3 messages'],
  ];
  const stagesMs = Object.fromEntries(stageNames.map(([key]) => [key, stages.median(key)]));
  const stageTotal = Object.values(stagesMs).reduce((s, v) => s + v, 0);
  log(`pipeline by stage (medians; scopes one after another):\n`);
  log(`${table(['stage', 'ms', 'share'], stageNames.map(([key, label]) => [label, ms(stagesMs[key] ?? Number.NaN), `${(((stagesMs[key] ?? 0) / stageTotal) * 100).toFixed(0)}%`]))}\n`);
  log(
    `verdict: pipeline/floor ${result.ratio.toFixed(2)}× (target ≤ ${MAX_RATIO}×): ${result.ratio <= MAX_RATIO ? 'met' : 'NOT MET'}. ` +
      `The handler row is reported, not asserted: it also copies the body through a Buffer, claims the batch,\n` +
      `  reads the (stubbed) ledger, builds object keys and PutObject commands, and seals the scopes concurrently.\n\n`,
  );

  const gzipLevels = measureGzipLevels(batches, now, log);
  const { rows: frames, signing } = await measureFrameLengths(batches, now, keyring, options.frameSeconds, log);
  return {
    rounds,
    batchBytes: { min: Math.min(...sizes), median: percentile(sizes, 50), max: Math.max(...sizes) },
    ...result,
    cpuMs: cpu,
    stagesMs,
    frames,
    signing,
    gzipLevels,
  };
}

function jsonLines(events: readonly CaptureEvent[]): Buffer {
  return Buffer.from(`${events.map((e) => JSON.stringify(e)).join('\n')}\n`, 'utf8');
}

function scopedObjects(batch: GeneratedBatch, now: Date): Map<string, Buffer> {
  const parsed = parseBatch(JSON.parse(batch.body), now);
  if (!parsed.ok) throw new Error(`generated batch ${batch.batchId} is invalid`);
  return new Map([...groupByScope(redactEvents(parsed.batch.events).events)].map(([scope, events]) => [scope, jsonLines(events)]));
}

/** gzip of the three scopes' JSON Lines at levels 1, 6 (zlib's default, what serialise uses) and 9. */
function measureGzipLevels(batches: readonly GeneratedBatch[], now: Date, log: (text: string) => void): HandlerOnlyResult['gzipLevels'] {
  const objects = batches.slice(0, 8).map((b) => [...scopedObjects(b, now).values()]);
  const levels = [1, 6, 9] as const;
  const samples = new Samples();
  for (let round = 0; round < 24; round += 1) {
    const parts = objects[round % objects.length] ?? [];
    for (const level of round % 2 === 0 ? levels : [...levels].reverse()) {
      const t0 = performance.now();
      let bytes = 0;
      for (const part of parts) bytes += gzipSync(part, { level }).length;
      samples.add(`ms:${level}`, performance.now() - t0);
      samples.add(`bytes:${level}`, bytes);
    }
  }
  const plain = objects.map((parts) => parts.reduce((s, p) => s + p.length, 0));
  const rows = levels.map((level) => ({ level, ms: samples.median(`ms:${level}`), bytes: samples.median(`bytes:${level}`) }));
  log(`gzip level, per batch (3 scopes' JSON Lines, ${kib(percentile(plain, 50))} before compression; gzipSync, so no thread-pool hop):\n`);
  log(`${table(['level', 'ms', 'compressed', 'ratio'], rows.map((r) => [r.level === 6 ? '6 (default, used)' : String(r.level), ms(r.ms), kib(r.bytes), `${(percentile(plain, 50) / r.bytes).toFixed(1)}:1`]))}\n\n`);
  return rows;
}

/** Encrypt and decrypt one object with raw AES-256-GCM and with the Encryption SDK at each frame length. */
async function measureFrameLengths(
  batches: readonly GeneratedBatch[],
  now: Date,
  keyring: KeyringNode,
  seconds: number,
  log: (text: string) => void,
): Promise<{ rows: FrameRow[]; signing: SigningComparison }> {
  const typical = scopedObjects(batches[0] as GeneratedBatch, now);
  // The largest batch the contract allows: 5,000 events under the 1 MiB body limit.
  const big = generateBatch(7_777, { events: 5_000, now });
  const bigObjects = scopedObjects(big, now);
  if (Buffer.byteLength(big.body) > 1_048_576) throw new Error(`the 5,000-event batch is ${Buffer.byteLength(big.body)} bytes, over the 1 MiB limit`);
  const random = seededRandom(42);
  const incompressible = Buffer.from(Array.from({ length: 1_048_576 }, () => Math.floor(random() * 256)));
  const objects: { name: string; data: Buffer }[] = [
    { name: 'app-focus object, typical batch', data: gzipSync(typical.get('app-focus') ?? Buffer.alloc(0)) },
    { name: 'keystrokes object, typical batch', data: gzipSync(typical.get('keystrokes') ?? Buffer.alloc(0)) },
    { name: `keystrokes object, 5,000-event batch (${kib(Buffer.byteLength(big.body))} JSON)`, data: gzipSync(bigObjects.get('keystrokes') ?? Buffer.alloc(0)) },
    { name: '1 MiB, incompressible (throughput)', data: incompressible },
  ];
  const variants = ['raw', ...FRAME_LENGTHS.map(String)];
  // For comparison only: the default signing suite, which the key policy would refuse (it adds an
  // `aws-crypto-public-key` context pair). Measured on the typical keystrokes object.
  const signingObject = objects[1] as { name: string; data: Buffer };
  const context = { employeeId: EMPLOYEE_ID, scope: 'keystrokes', batchId: 'b-frames' };
  const samples = new Samples();
  const overhead: Record<string, Record<string, number>> = {};

  const once = async (object: { name: string; data: Buffer }, variant: string): Promise<void> => {
    if (variant === 'raw') {
      const key = randomBytes(32);
      const iv = randomBytes(12);
      let t0 = performance.now();
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const sealed = Buffer.concat([cipher.update(object.data), cipher.final()]);
      const tag = cipher.getAuthTag();
      samples.add(`enc:${object.name}:${variant}`, performance.now() - t0);
      t0 = performance.now();
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAuthTag(tag);
      Buffer.concat([decipher.update(sealed), decipher.final()]);
      samples.add(`dec:${object.name}:${variant}`, performance.now() - t0);
      (overhead[object.name] ??= {})[variant] = sealed.length + tag.length + iv.length - object.data.length;
      return;
    }
    const signing = variant === 'signing';
    let t0 = performance.now();
    const { result } = await encrypt(keyring, object.data, {
      encryptionContext: context,
      suiteId: signing ? AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 : ALGORITHM_SUITE,
      frameLength: signing ? FRAME_LENGTH : Number(variant),
    });
    samples.add(`enc:${object.name}:${variant}`, performance.now() - t0);
    t0 = performance.now();
    const { plaintext } = await decrypt(keyring, result);
    samples.add(`dec:${object.name}:${variant}`, performance.now() - t0);
    if (plaintext.length !== object.data.length) throw new Error('the Encryption SDK round trip lost bytes');
    (overhead[object.name] ??= {})[variant] = result.length - object.data.length;
  };

  for (let n = 0; n < 3; n += 1) {
    for (const object of objects) for (const variant of variants) await once(object, variant);
    await once(signingObject, 'signing');
  }
  const deadline = performance.now() + seconds * 1000;
  let rounds = 0;
  while ((performance.now() < deadline && rounds < 200) || rounds < 8) {
    const order = rounds % 2 === 0 ? variants : [...variants].reverse();
    for (const object of objects) for (const variant of order) await once(object, variant);
    await once(signingObject, 'signing');
    rounds += 1;
  }

  const rows: FrameRow[] = objects.map((object) => ({
    object: object.name,
    bytes: object.data.length,
    encryptMs: Object.fromEntries(variants.map((v) => [v, samples.median(`enc:${object.name}:${v}`)])),
    decryptMs: Object.fromEntries(variants.map((v) => [v, samples.median(`dec:${object.name}:${v}`)])),
    overheadBytes: Object.fromEntries(variants.map((v) => [v, overhead[object.name]?.[v] ?? Number.NaN])),
  }));
  const heading = ['object', 'size', 'raw AES-GCM', 'ESDK 4 KiB', 'ESDK 64 KiB', 'ESDK 1 MiB'];
  const cell = (bytes: number, value: number) => `${ms(value)} ms ${mibPerSecond(bytes, value).padStart(10)}`;
  log(`frame length: seal one object (median of ${rounds} rounds; ms and MiB/s of plaintext; product FRAME_LENGTH = ${FRAME_LENGTH}):\n`);
  log(`${table(heading, rows.map((r) => [r.object, kib(r.bytes), ...variants.map((v) => cell(r.bytes, r.encryptMs[v] ?? Number.NaN))]))}\n`);
  log(`frame length: decrypt the same object (the export side):\n`);
  log(`${table(heading, rows.map((r) => [r.object, kib(r.bytes), ...variants.map((v) => cell(r.bytes, r.decryptMs[v] ?? Number.NaN))]))}\n`);
  const signingEnc = samples.median(`enc:${signingObject.name}:signing`);
  const signingDec = samples.median(`dec:${signingObject.name}:signing`);
  log(
    `for comparison, the signing suite ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 (not used: the key policy refuses its context pair), ` +
      `${signingObject.name}, 64 KiB frames: seal ${ms(signingEnc)} ms, decrypt ${ms(signingDec)} ms, ${overhead[signingObject.name]?.['signing'] ?? '-'} B overhead\n`,
  );
  log(`frame length: ciphertext bytes beyond the plaintext (raw: IV + tag; ESDK: header with context and wrapped key, 32 B per frame):\n`);
  log(`${table(heading, rows.map((r) => [r.object, kib(r.bytes), ...variants.map((v) => `${r.overheadBytes[v] ?? '-'} B`)]))}\n\n`);
  return { rows, signing: { encryptMs: signingEnc, decryptMs: signingDec, overheadBytes: overhead[signingObject.name]?.['signing'] ?? Number.NaN } };
}
