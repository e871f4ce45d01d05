// The export worker under faults, against the local stack with the real worker code wrapped by
// test/fixtures/export-fault-handler.ts: a worker killed mid-export leaves no ready file and the
// queue's retry completes it, once; a job delivered again after it finished changes nothing; a
// corrupted object is listed as unreadable and the rest is exported; an upload that keeps failing,
// or a grant KMS no longer honours, fails the job (never a "ready" file of nothing), and its grant
// is retired either way.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListGrantsCommand } from '@aws-sdk/client-kms';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportFileKeys } from '../../contract/export-format.js';
import { exportStatusResponse } from '../../contract/responses.js';
import { runExport } from '../../lambdas/export/export-employee.js';
import { ExportJobs } from '../../lambdas/shared/export-jobs.js';
import { Ledger } from '../../lambdas/shared/ledger.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch } from '../support/capture-batches.js';
import { startTestStack, type ConsentTestStack } from '../support/consent-api.js';
import { canonical, exportApi, type ExportApi } from '../support/export-api.js';
import { downloadExport } from '../support/export-lines.js';
import { pollUntil } from '../support/local-stack.js';

const { captures, exports: exportsBucket } = LOCAL_RESOURCES.buckets;
const CRASH_AT_GET = 3;

let t: ConsentTestStack;
let api: ExportApi;
let faultDir: string;

beforeAll(async () => {
  faultDir = mkdtempSync(join(tmpdir(), 'cc-export-faults-'));
  t = await startTestStack({
    functions: { export: { entry: 'test/fixtures/export-fault-handler.ts', environment: { EXPORT_FAULT_DIR: faultDir, EXPORT_CRASH_AT_GET: String(CRASH_AT_GET) } } },
  });
  api = exportApi(t);
}, 60_000);

afterAll(async () => {
  await t?.close();
  rmSync(faultDir, { recursive: true, force: true });
});

async function captureSeveral(employeeId: string, batches: number): Promise<Record<string, unknown>[]> {
  await api.consent(employeeId, ['keystrokes', 'clicks']);
  const expected: Record<string, unknown>[] = [];
  for (let i = 0; i < batches; i += 1) expected.push(...(await api.capture(employeeId, captureBatch({ kinds: ['keystroke', 'click'], marker: `batch ${i}` }), ['keystrokes', 'clicks'])));
  return expected;
}

async function exists(bucket: string, key: string): Promise<boolean> {
  try {
    await t.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if (error instanceof Error && (error.name === 'NotFound' || error.name === 'NoSuchKey')) return false;
    throw error;
  }
}

async function grantsOn(employeeId: string): Promise<number> {
  const keyArn = (await t.ledger.latestEvent(employeeId))?.state.keyArn;
  return ((await t.kms('steward').send(new ListGrantsCommand({ KeyId: keyArn }))).Grants ?? []).length;
}

describe('a worker killed mid-export', () => {
  it('leaves no ready file and no export file; the retry completes it once, with every line exactly once', async () => {
    const id = 'e-crash-1';
    const expected = await captureSeveral(id, 3);
    const started = await api.requestExport(id);
    const exportId = String(started.body['exportId']);

    // The first attempt dies at the third GetObject (the marker says so), before its upload completes.
    const crashedAt = await pollUntil(() => {
      try {
        return readFileSync(join(faultDir, `crashed-${id}`), 'utf8');
      } catch {
        return undefined;
      }
    }, { timeoutMs: 30_000, what: 'the worker was killed' });
    expect(Number(crashedAt)).toBe(CRASH_AT_GET);
    const between = await api.exportStatus(id, exportId);
    expect(between.body).toMatchObject({ status: 'running' });
    expect(between.body['url']).toBeUndefined();
    expect(await exists(exportsBucket, exportFileKeys(id, exportId).file)).toBe(false);
    // Asking again while it runs answers the running export; it starts no second one.
    const again = await api.requestExport(id);
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ exportId, status: 'running' });

    // The retry (the fixture holds it until now) completes the export.
    writeFileSync(join(faultDir, `released-${id}`), '');
    const finished = await api.untilFinished(id, exportId);

    expect(finished.status).toBe('ready');
    const { lines } = await downloadExport(finished.url ?? '');
    expect(canonical(lines)).toEqual(canonical(expected));
    expect((await t.ledger.events(id)).filter((e) => e.kind === 'export-ready')).toHaveLength(1);
    expect(await grantsOn(id)).toBe(0);
  }, 90_000);
});

describe('a job delivered again after its export finished', () => {
  it('leaves the file, its manifest and the ledger as they were, and finds no grant left to retire', async () => {
    const id = 'e-redeliver-1';
    await captureSeveral(id, 2);
    const started = await api.requestExport(id);
    const exportId = String(started.body['exportId']);
    const first = await api.untilFinished(id, exportId);
    expect(first.status).toBe('ready');
    const manifestBefore = await api.manifestOf(first);
    const { bytes: fileBefore } = await downloadExport(first.url ?? '');
    // The same job again, as SQS redelivers a message whose delete was lost, run as the export role.
    const documents = t.local.documents('export');
    const jobs = new ExportJobs(documents, LOCAL_RESOURCES.tables.exportJobs);
    const record = await jobs.get(id, exportId);
    const deps = {
      ledger: new Ledger(documents, LOCAL_RESOURCES.tables.ledger),
      jobs,
      s3: t.local.s3('export'),
      kms: t.local.kms('export'),
      capturesBucket: captures,
      exportsBucket,
      logger: new Logger({ serviceName: 'test-export', logLevel: 'SILENT' }),
    };

    const outcome = await runExport(deps, { employeeId: id, exportId, keyArn: record?.keyArn ?? '', grantId: record?.grantId ?? '', grantToken: 'spent' });

    expect(outcome).toBe('already-finished');
    const again = await api.exportStatus(id, exportId);
    expect(again.body).toMatchObject({ status: 'ready', completedAt: first.completedAt });
    expect(await api.manifestOf(exportStatusResponse.parse(again.body))).toEqual(manifestBefore);
    expect((await downloadExport(String(again.body['url']))).bytes.equals(fileBefore)).toBe(true);
    expect((await t.ledger.events(id)).filter((e) => e.kind === 'export-ready')).toHaveLength(1);
    expect(await grantsOn(id)).toBe(0);
  }, 60_000);
});

describe('a corrupted capture object', () => {
  it('is listed in the manifest as unreadable, and everything else is exported', async () => {
    const id = 'e-corrupt-1';
    const expected = await captureSeveral(id, 2);
    const listed = await t.s3.send(new ListObjectsV2Command({ Bucket: captures, Prefix: `captures/${id}/` }));
    const victim = listed.Contents?.[0]?.Key ?? '';
    const original = await t.s3.send(new GetObjectCommand({ Bucket: captures, Key: victim }));
    const bytes = Buffer.from(await (original.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    // Flip bytes in the last frame (ciphertext and tag): the message no longer authenticates.
    for (const at of [bytes.length - 40, bytes.length - 5]) bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    await t.s3.send(new PutObjectCommand({ Bucket: captures, Key: victim, Body: bytes, Metadata: original.Metadata }));
    const victimBatch = victim.split('/').at(-1);
    const victimScope = victim.split('/')[2];

    const started = await api.requestExport(id);
    const finished = await api.untilFinished(id, String(started.body['exportId']));

    expect(finished).toMatchObject({ status: 'ready', counts: { objects: 3, unreadable: 1 } });
    const manifest = await api.manifestOf(finished);
    expect(manifest.unreadable).toEqual([{ key: victim, reason: 'decrypt-failed' }]);
    expect(manifest.objects).toEqual({ listed: 4, exported: 3, unreadable: 1 });
    const { lines } = await downloadExport(finished.url ?? '');
    const rest = expected.filter((line) => !(line['batchId'] === victimBatch && line['scope'] === victimScope));
    expect(rest.length).toBeLessThan(expected.length);
    expect(canonical(lines)).toEqual(canonical(rest));
  }, 60_000);
});

describe('an object copied under another batch\'s key', () => {
  it('is listed as context-mismatch: the message names another batch than its key, so it is not trusted', async () => {
    const id = 'e-relabel-1';
    const expected = await captureSeveral(id, 1);
    const listed = await t.s3.send(new ListObjectsV2Command({ Bucket: captures, Prefix: `captures/${id}/` }));
    const source = listed.Contents?.[0]?.Key ?? '';
    const original = await t.s3.send(new GetObjectCommand({ Bucket: captures, Key: source }));
    const bytes = await (original.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    // A valid message of this employee and key, relabelled: same scope and day, another batch id.
    const copy = `${source.slice(0, source.lastIndexOf('/'))}/b-relabelled`;
    await t.s3.send(new PutObjectCommand({ Bucket: captures, Key: copy, Body: bytes, Metadata: original.Metadata }));

    const started = await api.requestExport(id);
    const finished = await api.untilFinished(id, String(started.body['exportId']));

    expect((await api.manifestOf(finished)).unreadable).toEqual([{ key: copy, reason: 'context-mismatch' }]);
    expect(canonical((await downloadExport(finished.url ?? '')).lines)).toEqual(canonical(expected));
  }, 60_000);
});

/**
 * Captures for `id`, asks for an export that the fixture makes fail on every attempt, and checks
 * what any such failure must leave: `failed` with a reason, no URL, no file, no export-ready, no grant.
 */
async function exportFailingEveryAttempt(id: string): Promise<{ exportId: string; trailFrom: number }> {
  await captureSeveral(id, 1);
  const trailFrom = t.local.trail().length;
  const started = await api.requestExport(id);
  const exportId = String(started.body['exportId']);

  const finished = await api.untilFinished(id, exportId);

  expect(finished.status).toBe('failed');
  expect(finished.reason).toMatch(/failed several times/);
  expect(finished.url).toBeUndefined();
  expect(await exists(exportsBucket, exportFileKeys(id, exportId).file)).toBe(false);
  expect((await t.ledger.events(id)).map((e) => e.kind)).not.toContain('export-ready');
  expect(await grantsOn(id)).toBe(0);
  return { exportId, trailFrom };
}

describe('an export whose upload keeps failing while its grant is valid', () => {
  it('is marked failed after its retries, writes no file, and the worker itself retires the grant', async () => {
    const { exportId, trailFrom } = await exportFailingEveryAttempt('e-upfail-1');

    // The grant worked (the objects were decrypted) and nobody but the export role retired it.
    const trail = t.local.trail().slice(trailFrom).filter((r) => r.errorCode === undefined);
    const grantId = trail.find((r) => r.eventName === 'CreateGrant' && r.requestParameters?.['name'] === `export-${exportId}`)?.responseElements?.['grantId'];
    expect(grantId).toBeDefined();
    expect(trail.filter((r) => r.eventName === 'Decrypt').length).toBeGreaterThan(0);
    const retired = trail.filter((r) => (r.eventName === 'RetireGrant' || r.eventName === 'RevokeGrant') && r.requestParameters?.['grantId'] === grantId);
    expect(retired.map((r) => [r.eventName, r.userIdentity.sessionContext?.sessionIssuer.arn ?? r.userIdentity.arn])).toEqual([['RetireGrant', t.roles.export]]);
  }, 60_000);
});

describe('a grant KMS no longer honours (revoked while the job waited)', () => {
  it('fails the export with a reason after its retries, writes no file, and leaves no grant', async () => {
    const id = 'e-nogrant-1';
    const { exportId } = await exportFailingEveryAttempt(id);

    // The lock is released: a new request starts a new export.
    const again = await api.requestExport(id);
    expect(again.status).toBe(202);
    expect(again.body['exportId']).not.toBe(exportId);
  }, 60_000);
});
