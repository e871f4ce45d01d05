// What a training dataset is made of: a manifest of capture objects (never copies of their
// content) with each object's consent lineage, written by the datasets builder and read by the
// training-job reader (datasets/). Both use these schemas.
import * as z from './zod.js';
import { ID_PATTERN, SCOPES } from './vocabulary.js';

/** The manifest's first line carries `format`; bumped when a line changes incompatibly. */
export const DATASET_MANIFEST_FORMAT = 'consent-capture-dataset/1';
/** Manifests and cards live under this prefix of the exports bucket: paths, counts and lineage only, no captured content. */
export const DATASETS_PREFIX = 'datasets/';

export const DATASET_STATUSES = ['building', 'ready', 'failed', 'expired'] as const;
export type DatasetStatus = (typeof DATASET_STATUSES)[number];

const id = z.string().check(z.regex(ID_PATTERN));
const epochMs = z.number().check(z.int());

/** Under which consent an object was captured: the ledger event that granted its scope, and the notice shown. */
export const consentLineageSchema = z.strictObject({
  /** The ledger sequence of the consent (grant or scope change) in force when the object's events happened. */
  consentSeq: z.number().check(z.int(), z.gte(0)),
  noticeVersion: z.string().check(z.minLength(1)),
  noticeSha256: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
});
export type ConsentLineage = z.infer<typeof consentLineageSchema>;

/** One manifest line: one capture object, where it is, whose it is, and under which consent. */
export const datasetManifestLineSchema = z.strictObject({
  bucket: z.string().check(z.minLength(1)),
  key: z.string().check(z.minLength(1)),
  employeeId: id,
  scope: z.enum(SCOPES),
  batchId: id,
  /** The earliest and latest event time in the object, epoch ms. */
  from: epochMs,
  to: epochMs,
  events: z.number().check(z.int(), z.gte(0)),
  lineage: consentLineageSchema,
});
export type DatasetManifestLine = z.infer<typeof datasetManifestLineSchema>;

/** Where a dataset's manifest (JSON Lines, one object per line) and its cards live. */
export function datasetKeys(datasetId: string): { readonly manifest: string; readonly card: string; readonly cardMarkdown: string } {
  const base = `${DATASETS_PREFIX}${datasetId}/`;
  return { manifest: `${base}manifest.jsonl`, card: `${base}card.json`, cardMarkdown: `${base}README.md` };
}
