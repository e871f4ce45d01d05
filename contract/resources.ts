// The application's stateful resources: DynamoDB tables and S3 buckets with their key prefixes.
// Names here are logical; the CDK app lets CloudFormation name them, the local stack prefixes them.

export interface TableDeclaration {
  readonly constructId: string;
  readonly partitionKey: string;
  readonly sortKey: string;
  /** @default - no TTL */
  readonly timeToLiveAttribute?: string;
}

/** Every table is keyed by employee (`pk`) and then by event, state or batch (`sk`). */
export const TABLES = {
  /** The append-only consent ledger: `event#<sequence>` items and the folded `state` item. */
  ledger: { constructId: 'Ledger', partitionKey: 'pk', sortKey: 'sk' },
  /** Ingest's batch claims, one per (employee, batchId); they expire after the 7-day replay window. */
  batches: { constructId: 'Batches', partitionKey: 'pk', sortKey: 'sk', timeToLiveAttribute: 'expiresAt' },
  /**
   * Export jobs: `export#<exportId>` items (status, counts, where the file is) and one `running`
   * lock item per employee, so a second request while one runs answers the running one. Items
   * expire by TTL a little after the export file's one-day lifecycle.
   */
  exportJobs: { constructId: 'ExportJobs', partitionKey: 'pk', sortKey: 'sk', timeToLiveAttribute: 'expiresAt' },
  /**
   * Training datasets: `dataset#<id>` / `dataset` items (request, status, counts, where the
   * manifest is) and one `employee#<employeeId>` / `dataset#<id>` item per member, so an employee's
   * own datasets are one Query. Kept after expiry: they say what was granted, and until when.
   */
  datasets: { constructId: 'Datasets', partitionKey: 'pk', sortKey: 'sk' },
} as const satisfies Record<string, TableDeclaration>;
export type TableName = keyof typeof TABLES;

export interface BucketDeclaration {
  /** The construct id inside the CDK app's DataBuckets construct. */
  readonly constructId: string;
  /** Every object lives under `{prefix}{employeeId}/…`; grants are scoped to the prefix. */
  readonly prefix: string;
}

export const BUCKETS = {
  /** `captures/{employeeId}/{scope}/{yyyy}/{mm}/{dd}/{batchId}`: ciphertext only. */
  captures: { constructId: 'Captures', prefix: 'captures/' },
  /** `exports/{employeeId}/…`: short-lived export files. */
  exports: { constructId: 'Exports', prefix: 'exports/' },
} as const satisfies Record<string, BucketDeclaration>;
export type BucketName = keyof typeof BUCKETS;

export const CAPTURES_PREFIX = BUCKETS.captures.prefix;
export const EXPORTS_PREFIX = BUCKETS.exports.prefix;

/**
 * The user-metadata key (x-amz-meta-device-id) under which ingest records the batch's device id
 * on each capture object; the export reads it back. Metadata, not encryption context: the key
 * policy pins the context to employeeId, scope and batchId.
 */
export const DEVICE_ID_METADATA = 'device-id';

/**
 * User-metadata keys (x-amz-meta-events-from, -events-to) under which ingest records the earliest
 * and latest event time of a capture object (epoch ms): the datasets worker judges an object
 * against the consent windows and a dataset's time range without decrypting it. Times only, no
 * content. Objects written before these existed carry neither and are left out of datasets.
 */
export const EVENTS_FROM_METADATA = 'events-from';
export const EVENTS_TO_METADATA = 'events-to';
