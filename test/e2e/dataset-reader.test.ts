// The dataset reader against the real local stack: captures go in through ingest, a manifest lists
// the objects with their consent lineage, and the key steward mints per-employee, per-scope
// Decrypt grants. The reader yields exactly the stored events with lineage; what KMS refuses is
// counted `withdrawn` and yields nothing; missing and corrupt objects are counted, not fatal.
// The reading principal is the training role, which holds no standing Decrypt.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetKeys, type DatasetManifestLine } from '../../contract/dataset-manifest.js';
import { runDatasetCli } from '../../datasets/cli.js';
import { DatasetReader, manifestEntries, parseManifestLocation, ParquetShards, type DatasetRecord, type ManifestEntry, type ObjectReading } from '../../datasets/reader/index.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import type { PrincipalName } from '../../local/principals.js';
import { startTestStack, type ConsentTestStack } from '../support/consent-api.js';
import { pollUntil } from '../support/local-stack.js';
import { buildDatasetFixture, revokeGrant, writeManifest, type DatasetFixture } from '../support/dataset-fixture.js';

/** Who reads: the training role, as a training job does. */
const GRANTEE: PrincipalName = 'training';
const A = 'e-ds-a';
const B = 'e-ds-b';
const C = 'e-ds-c';

let t: ConsentTestStack;
let fixture: DatasetFixture;
let manifest: string;

beforeAll(async () => {
  t = await startTestStack();
  // A and B consent to keystrokes and clicks, C to keystrokes only; the dataset is keystrokes and clicks.
  fixture = await buildDatasetFixture(t, { employees: { [A]: ['keystrokes', 'clicks'], [B]: ['keystrokes', 'clicks'], [C]: ['keystrokes'] }, datasetScopes: ['keystrokes', 'clicks'], grantee: GRANTEE });
  manifest = writeManifest(fixture.lines);
}, 120_000);
afterAll(async () => {
  await t?.close();
});

function readerAs(principal: PrincipalName, concurrency?: number): DatasetReader {
  return new DatasetReader({ s3: t.local.s3(principal), kms: t.local.kms(principal), keyAccounts: [t.stack.identity.account], ...(concurrency === undefined ? {} : { concurrency }) });
}

async function readAll(reader: DatasetReader, location: string): Promise<ObjectReading[]> {
  const readings: ObjectReading[] = [];
  for await (const reading of reader.objects({ kind: 'file', path: location })) readings.push(reading);
  return readings;
}

const recordsOf = (readings: readonly ObjectReading[]): DatasetRecord[] => readings.flatMap((r) => (r.status === 'read' ? r.records : []));
const expectedFor = (keys: readonly string[]): Record<string, unknown>[] => keys.flatMap((key) => fixture.expected.get(key) ?? []);
const keysOf = (employeeId: string, scope?: string): string[] => fixture.lines.filter((l) => l.employeeId === employeeId && (scope === undefined || l.scope === scope)).map((l) => l.key);

describe('reading a dataset through its grants', () => {
  it('yields exactly the stored events of every object, in manifest order, each with its lineage', async () => {
    // Arrange: 2 batches × (keystrokes, clicks) for A and B, keystrokes for C.
    expect(fixture.lines).toHaveLength(10);
    const reader = readerAs(GRANTEE, 3);

    // Act
    const readings = await readAll(reader, manifest);

    // Assert: stored events exactly (redacted, as ingest stored them), with lineage, in order.
    expect(readings.map((r) => r.status)).toEqual(fixture.lines.map(() => 'read'));
    expect(recordsOf(readings)).toEqual(expectedFor(fixture.lines.map((l) => l.key)));
    expect(JSON.stringify(recordsOf(readings))).not.toContain('jane.doe@example.com');
    expect(reader.summary).toMatchObject({ objects: 10, records: 10 * 3, withdrawn: 0, missing: 0, corrupt: 0 });
    expect(reader.summary.perScope.keystrokes).toMatchObject({ objects: 6, records: 18, withdrawn: 0 });
    expect(reader.summary.perScope.clicks).toMatchObject({ objects: 4, records: 12, withdrawn: 0 });
  });

  it("a grant for A's keystrokes opens neither A's clicks nor B's keystrokes: those objects are withdrawn", async () => {
    // Arrange: D and E consent to both scopes; of their grants only D's keystrokes is kept.
    const D = 'e-ds-d';
    const E = 'e-ds-e';
    const other = await buildDatasetFixture(t, { employees: { [D]: ['keystrokes', 'clicks'], [E]: ['keystrokes', 'clicks'] }, datasetScopes: ['keystrokes', 'clicks'], grantee: GRANTEE, batches: 1 });
    for (const [which, grant] of other.grants) if (which !== `${D}/keystrokes`) await revokeGrant(t, grant);
    const reader = readerAs(GRANTEE);

    // Act
    const readings = await readAll(reader, writeManifest(other.lines));

    // Assert
    const dKeystrokes = other.lines.filter((l) => l.employeeId === D && l.scope === 'keystrokes').map((l) => l.key);
    expect(dKeystrokes).toHaveLength(1);
    expect(recordsOf(readings)).toEqual(other.expected.get(dKeystrokes[0] as string));
    expect(readings.filter((r) => r.status === 'withdrawn').map((r) => r.entry.key).sort()).toEqual(other.lines.map((l) => l.key).filter((key) => key !== dKeystrokes[0]).sort());
    expect(reader.summary).toMatchObject({ objects: 4, withdrawn: 3, records: 3 });
  });

  it('an administrator reads nothing: every object is withdrawn, no record, no error', async () => {
    const reader = readerAs('admin');
    const readings = await readAll(reader, manifest);
    expect(recordsOf(readings)).toEqual([]);
    expect(reader.summary).toMatchObject({ objects: 10, records: 0, withdrawn: 10 });
    expect(readings.every((r) => r.status === 'withdrawn' && r.kmsError === 'AccessDeniedException')).toBe(true);
  });

  it('a missing object is counted missing and the read goes on', async () => {
    const first = fixture.lines[0] as DatasetManifestLine;
    const gone: DatasetManifestLine = { ...first, key: `captures/${first.employeeId}/${first.scope}/2026/01/01/b-gone`, batchId: 'b-gone' };
    const reader = readerAs(GRANTEE);
    const readings = await readAll(reader, writeManifest([gone, ...fixture.lines]));
    expect(readings[0]).toMatchObject({ status: 'missing', lineNumber: 2 });
    expect(recordsOf(readings)).toEqual(expectedFor(fixture.lines.map((l) => l.key)));
    expect(reader.summary).toMatchObject({ objects: 11, missing: 1, withdrawn: 0, corrupt: 0 });
  });

  it('an altered object and an object copied under another batch are corrupt, yield nothing, and the read goes on', async () => {
    // Arrange: as an insider with bucket access, flip a byte of A's first keystroke object into a new key, and copy it unaltered under another batch id.
    const original = fixture.lines.find((l) => l.employeeId === A && l.scope === 'keystrokes') as DatasetManifestLine;
    const object = await t.s3.send(new GetObjectCommand({ Bucket: original.bucket, Key: original.key }));
    const bytes = Buffer.from(await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 40] = (flipped[flipped.length - 40] ?? 0) ^ 0xff;
    const altered: DatasetManifestLine = { ...original, key: original.key.replace(original.batchId, 'b-altered'), batchId: 'b-altered' };
    const copied: DatasetManifestLine = { ...original, key: original.key.replace(original.batchId, 'b-copied'), batchId: 'b-copied' };
    // The admin may write, though it may not decrypt: the insider the reader must not trust.
    await t.s3.send(new PutObjectCommand({ Bucket: altered.bucket, Key: altered.key, Body: flipped }));
    await t.s3.send(new PutObjectCommand({ Bucket: copied.bucket, Key: copied.key, Body: bytes }));
    const reader = readerAs(GRANTEE);

    // Act
    const readings = await readAll(reader, writeManifest([altered, copied, original]));

    // Assert
    expect(readings.map((r) => (r.status === 'corrupt' ? r.reason : r.status))).toEqual(['decrypt-failed', 'context-mismatch', 'read']);
    expect(recordsOf(readings)).toEqual(fixture.expected.get(original.key));
    expect(reader.summary).toMatchObject({ objects: 3, corrupt: 2, records: 3 });
  });

  it('reads a manifest from S3 (s3://bucket/key) line by line', async () => {
    // Arrange: the manifest where the datasets API writes it, under datasets/ in the exports bucket.
    const location = parseManifestLocation(`s3://${LOCAL_RESOURCES.buckets.exports}/${datasetKeys('d-test').manifest}`);
    if (location.kind !== 's3') throw new Error('not an s3 location');
    await t.s3.send(new PutObjectCommand({ Bucket: location.bucket, Key: location.key, Body: readFileSync(manifest) }));

    // Act
    const entries: ManifestEntry[] = [];
    for await (const entry of manifestEntries(location, t.s3)) entries.push(entry);

    // Assert
    expect(entries.map((e) => e.line)).toEqual(fixture.lines);
    expect(entries.map((e) => e.lineNumber)).toEqual(fixture.lines.map((_, i) => i + 2));
  });

  it('a corrupt manifest line stops the read with an error naming the line', async () => {
    const reader = readerAs(GRANTEE);
    const broken = writeManifest([fixture.lines[0] as DatasetManifestLine, '{"bucket": "x", "key": 42}', fixture.lines[1] as DatasetManifestLine]);
    await expect(readAll(reader, broken)).rejects.toThrow(/^manifest line 3: not a manifest line \(/);
    expect(reader.summary.objects).toBeLessThanOrEqual(1);
  });

  it('writes Parquet shards whose rows are the records with the lineage columns', async () => {
    // Arrange: tiny row groups and shards, so that several shards and row groups are written.
    const dir = mkdtempSync(join(tmpdir(), 'cc-parquet-'));
    const shards = new ParquetShards({ dir, manifest, rowGroupRows: 4, shardRows: 8 });
    const reader = readerAs(GRANTEE);

    // Act
    for await (const record of reader.records({ kind: 'file', path: manifest })) shards.append(record);
    const files = shards.close();

    // Assert: read back with hyparquet, the rows are the records (absent fields null).
    expect(files.length).toBe(4);
    expect(readdirSync(dir).sort()).toEqual(['part-00000.parquet', 'part-00001.parquet', 'part-00002.parquet', 'part-00003.parquet']);
    const rows: Record<string, unknown>[] = [];
    for (const file of files) rows.push(...(await parquetReadObjects({ file: await asyncBufferFromFile(file) })));
    const asRows = expectedFor(fixture.lines.map((l) => l.key)).map((record) => ({
      employeeId: record['employeeId'], scope: record['scope'], batchId: record['batchId'], consentSeq: record['consentSeq'], noticeVersion: record['noticeVersion'], noticeSha256: record['noticeSha256'],
      kind: record['kind'], ts: new Date(record['ts'] as number), text: record['text'] ?? null, app: record['app'] ?? null, title: record['title'] ?? null,
      x: record['x'] ?? null, y: record['y'] ?? null, button: record['button'] ?? null,
    }));
    expect(rows).toEqual(asRows);
    const metadata = await parquetMetadataAsync(await asyncBufferFromFile(files[0] as string));
    expect(metadata.key_value_metadata).toContainEqual({ key: 'consent-capture.manifest', value: manifest });
  });
});

describe("a withdrawal, seen by the same manifest read again: A's keystroke grant is revoked", () => {
  beforeAll(async () => {
    // The steward revokes A's keystroke grant, as a withdrawal of keystrokes will.
    await revokeGrant(t, fixture.grants.get(`${A}/keystrokes`) as { keyArn: string; grantId: string });
  });

  it("A's keystroke objects are withdrawn with 0 plaintext and the rest is unchanged", async () => {
    // Arrange
    const reader = readerAs(GRANTEE);

    // Act: the same manifest, not rebuilt.
    const readings = await readAll(reader, manifest);

    // Assert
    const withdrawn = readings.filter((r) => r.status === 'withdrawn').map((r) => r.entry.key);
    expect(withdrawn.sort()).toEqual(keysOf(A, 'keystrokes').sort());
    expect(recordsOf(readings).filter((r) => r.employeeId === A && r.scope === 'keystrokes')).toEqual([]);
    expect(recordsOf(readings)).toEqual(expectedFor(fixture.lines.map((l) => l.key).filter((key) => !withdrawn.includes(key))));
    expect(reader.summary).toMatchObject({ objects: 10, withdrawn: 2, records: 24, corrupt: 0, missing: 0 });
    expect(reader.summary.perScope.keystrokes).toMatchObject({ objects: 6, withdrawn: 2, records: 12 });
  });

  it('the CLI reads as a local-stack principal, writes Parquet shards, and summarises withdrawn per scope', async () => {
    // Arrange
    const dir = mkdtempSync(join(tmpdir(), 'cc-cli-'));
    const stackJson = join(dir, 'stack.json');
    writeFileSync(stackJson, JSON.stringify(t.stack.stackFile));
    const out: string[] = [];
    const err: string[] = [];
    // stderr is a terminal: progress is shown there.
    const io = { stdout: { write: (s: string) => out.push(s) > 0 }, stderr: { isTTY: true, write: (s: string) => err.push(s) > 0 } } as unknown as Parameters<typeof runDatasetCli>[1];

    // Act
    const code = await runDatasetCli(['read', manifest, '--to-parquet', join(dir, 'shards'), '--local-stack', stackJson, '--principal', GRANTEE, '--summary-json', join(dir, 'summary.json')], io);

    // Assert
    expect(code).toBe(0);
    expect(out.join('')).toBe('');
    expect(err[0]).toMatch(/^\r1 objects, /);
    expect(err.join('')).toMatch(/\r10 objects, 24 records, 2 withdrawn, [\d.]+ MB \([\d.]+ MB\/s\)\nrecords {3}24\nobjects {3}10 \(read 8, withdrawn 2, missing 0, corrupt 0\)/);
    expect(err.join('')).toMatch(/keystrokes +6 +12 +2 +0 +0\n/);
    const rows = await parquetReadObjects({ file: await asyncBufferFromFile(join(dir, 'shards', 'part-00000.parquet')) });
    expect(rows).toHaveLength(24);
    expect(rows.some((row) => row['employeeId'] === A && row['scope'] === 'keystrokes')).toBe(false);
  });

  it('the CLI without --to-parquet prints the records as JSON Lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-cli-'));
    const stackJson = join(dir, 'stack.json');
    writeFileSync(stackJson, JSON.stringify(t.stack.stackFile));
    const out: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) > 0 }, stderr: { write: () => true } } as unknown as Parameters<typeof runDatasetCli>[1];
    const code = await runDatasetCli(['read', manifest, '--local-stack', stackJson, '--principal', GRANTEE], io);
    expect(code).toBe(0);
    const printed = out.join('').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(printed).toHaveLength(24);
    expect(printed.filter((r) => r['employeeId'] === A && r['scope'] === 'keystrokes')).toEqual([]);
  });
});

describe('withdrawal and erasure through the consent API', () => {
  it('a revoke (without erase) makes that employee withdrawn in an existing dataset, the others unchanged', async () => {
    // Arrange: G and H in one dataset, both readable.
    const G = 'e-ds-g';
    const H = 'e-ds-h';
    const built = await buildDatasetFixture(t, { employees: { [G]: ['keystrokes'], [H]: ['keystrokes'] }, datasetScopes: ['keystrokes'], grantee: GRANTEE, batches: 1 });
    const path = writeManifest(built.lines);
    expect((await readAll(readerAs(GRANTEE), path)).map((r) => r.status)).toEqual(['read', 'read']);

    // Act: G withdraws over HTTP.
    const revoked = await t.call('POST', '/v1/consent/revoke', { token: await t.token(G, 'consent:manage'), body: { erase: false } });
    const reader = readerAs(GRANTEE);
    const readings = await readAll(reader, path);

    // Assert
    expect(revoked.status).toBe(200);
    expect(readings.map((r) => [r.entry.employeeId, r.status])).toEqual([
      [G, 'withdrawn'],
      [H, 'read'],
    ]);
    expect(recordsOf(readings)).toEqual(built.expected.get(built.lines[1]?.key as string));
  });

  it('an erasure shreds: nothing of the employee is readable during the purge, and after it the objects are gone', async () => {
    // Arrange
    const F = 'e-ds-f';
    const built = await buildDatasetFixture(t, { employees: { [F]: ['keystrokes', 'clicks'] }, datasetScopes: ['keystrokes', 'clicks'], grantee: GRANTEE, batches: 1 });
    const path = writeManifest(built.lines);

    // Act: F withdraws and erases over HTTP; read at once, then once the purge has finished.
    const erased = await t.call('POST', '/v1/consent/revoke', { token: await t.token(F, 'consent:manage'), body: { erase: true } });
    const during = readerAs(GRANTEE);
    const duringReadings = await readAll(during, path);
    await pollUntil(async () => (await t.ledger.latestEvent(F))?.state.status === 'purged', { timeoutMs: 30_000, what: `${F} purged` });
    const after = readerAs(GRANTEE);
    await readAll(after, path);

    // Assert
    expect(erased.status).toBe(200);
    expect(recordsOf(duringReadings)).toEqual([]);
    expect(duringReadings.every((r) => r.status === 'withdrawn' || r.status === 'missing')).toBe(true);
    expect(after.summary).toMatchObject({ objects: 2, records: 0, missing: 2 });
  });
});
