// The dataset reader's manifest parsing, without a stack: the header, each line against the
// contract, and errors that name the line (never its content).
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DATASET_MANIFEST_FORMAT, type DatasetManifestLine } from '../../contract/dataset-manifest.js';
import { manifestEntries, ManifestError, parseManifestLocation, type ManifestEntry } from '../../datasets/reader/index.js';
import { writeManifest } from '../support/dataset-fixture.js';

const LINE: DatasetManifestLine = {
  bucket: 'captures-bucket',
  key: 'captures/e-1/keystrokes/2026/11/30/b-1',
  employeeId: 'e-1',
  scope: 'keystrokes',
  batchId: 'b-1',
  from: 1_764_460_800_000,
  to: 1_764_460_801_000,
  events: 3,
  lineage: { consentSeq: 1, noticeVersion: '2026-11', noticeSha256: 'b'.repeat(64) },
};

async function entriesOf(path: string): Promise<ManifestEntry[]> {
  const entries: ManifestEntry[] = [];
  for await (const entry of manifestEntries({ kind: 'file', path })) entries.push(entry);
  return entries;
}

async function errorOf(path: string): Promise<ManifestError> {
  try {
    await entriesOf(path);
  } catch (error) {
    if (error instanceof ManifestError) return error;
    throw error;
  }
  throw new Error('the manifest was accepted');
}

describe('manifestEntries', () => {
  it('yields each line after the header with its line number, skipping blank lines', async () => {
    const second = { ...LINE, key: 'captures/e-1/keystrokes/2026/11/30/b-2', batchId: 'b-2' };
    const entries = await entriesOf(writeManifest([LINE, '', second]));
    expect(entries).toEqual([
      { lineNumber: 2, line: LINE },
      { lineNumber: 4, line: second },
    ]);
  });

  it('names the line that is not JSON', async () => {
    const error = await errorOf(writeManifest([LINE, LINE, '{"bucket": "captures-bucket", "key": ']));
    expect(error.lineNumber).toBe(4);
    expect(error.message).toBe('manifest line 4: not JSON');
  });

  it('names the line and the field that breaks the contract', async () => {
    const error = await errorOf(writeManifest([{ ...LINE, lineage: { ...LINE.lineage, noticeSha256: 'not-a-hash' } }]));
    expect(error.message).toMatch(/^manifest line 2: not a manifest line \(lineage\.noticeSha256: /);
  });

  it('refuses a line whose key names another employee, scope or batch than the line says', async () => {
    for (const relabelled of [{ ...LINE, employeeId: 'e-2' }, { ...LINE, scope: 'clicks' as const }, { ...LINE, batchId: 'b-9' }, { ...LINE, key: 'exports/e-1/x' }]) {
      const error = await errorOf(writeManifest([relabelled]));
      expect(error.message).toBe('manifest line 2: its key does not name its employeeId, scope and batchId');
    }
  });

  it('requires the header first, with the format this reader reads', async () => {
    expect((await errorOf(writeManifest([LINE], LINE as unknown as Record<string, unknown>))).message).toMatch(/^manifest line 1: the first line must be the header/);
    expect((await errorOf(writeManifest([LINE], { format: 'consent-capture-dataset/2' }))).message).toBe(
      `manifest line 1: format "consent-capture-dataset/2" is not ${DATASET_MANIFEST_FORMAT}, which this reader reads`,
    );
    await expect(entriesOf(writeManifest([LINE], { format: DATASET_MANIFEST_FORMAT, datasetId: 'd-1', createdAt: '2026-11-30T00:00:00Z' }))).resolves.toHaveLength(1);
  });

  it('refuses an empty manifest', async () => {
    const path = writeManifest([]);
    writeFileSync(path, '\n');
    expect((await errorOf(path)).message).toBe('manifest line 1: the manifest is empty (no header)');
  });
});

describe('parseManifestLocation', () => {
  it('reads s3://bucket/key and local paths', () => {
    expect(parseManifestLocation('s3://exports-bucket/datasets/d-1/manifest.jsonl')).toEqual({ kind: 's3', bucket: 'exports-bucket', key: 'datasets/d-1/manifest.jsonl' });
    expect(parseManifestLocation('./manifest.jsonl')).toEqual({ kind: 'file', path: './manifest.jsonl' });
    expect(() => parseManifestLocation('s3://bucket-only')).toThrow('not an s3://bucket/key url: s3://bucket-only');
    expect(() => parseManifestLocation('s3:///key')).toThrow(/not an s3/);
  });
});
