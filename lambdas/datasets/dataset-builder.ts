// Builds one training dataset: finds the employees who consent now to its scopes, keeps the objects
// of each scope that lie inside the requested range and inside that employee's consented windows
// (with the consent they were captured under), refuses below the minimum number of employees per
// scope, has the key steward grant the training role Decrypt per employee and consented scope,
// then writes the manifest and its cards. Nothing is decrypted or copied: the dataset is a view.
// Also sweeps: retires the grants of expired datasets and marks them expired.
import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DATASET_MANIFEST_FORMAT, datasetKeys, type DatasetManifestLine } from '../../contract/dataset-manifest.js';
import { DEFAULT_MIN_EMPLOYEES, type DatasetCounts } from '../../contract/datasets.js';
import { CAPTURES_PREFIX, EVENTS_FROM_METADATA, EVENTS_TO_METADATA } from '../../contract/resources.js';
import { ID_PATTERN } from '../../contract/vocabulary.js';
import type { Scope } from '../shared/consent-model.js';
import type { DatasetRecord, DatasetsStore } from '../shared/datasets-store.js';
import type { Ledger } from '../shared/ledger.js';
import { croissantCard, markdownCard } from './dataset-card.js';
import { lineageOf, lineageSpans } from './consent-lineage.js';
import type { TrainingGrants } from './training-grants.js';

export interface DatasetBuilderDeps {
  readonly ledger: Ledger;
  readonly store: DatasetsStore;
  readonly s3: S3Client;
  readonly capturesBucket: string;
  /** Manifests and cards go under its datasets/ prefix (SSE-S3). */
  readonly exportsBucket: string;
  readonly grants: TrainingGrants;
  readonly logger: Logger;
  readonly now?: () => Date;
  /**
   * The fewest employees per scope any dataset may have, whatever its record says: the consent
   * role may write dataset records, and its request schema's floor must not rest on that.
   * @default DEFAULT_MIN_EMPLOYEES
   */
  readonly minEmployeesFloor?: number;
}

/** HeadObject calls in flight per employee and scope. */
const HEAD_CONCURRENCY = 16;

export type BuildOutcome = 'ready' | 'too-few-employees' | 'not-building';

export async function buildDataset(deps: DatasetBuilderDeps, datasetId: string): Promise<BuildOutcome> {
  const record = await deps.store.get(datasetId);
  if (record === undefined || record.status !== 'building') return 'not-building';
  const from = Date.parse(record.from);
  const to = Date.parse(record.to);

  // Per employee, the objects of each scope they consent to now, inside range and consent windows.
  const candidates = new Map<string, Map<Scope, DatasetManifestLine[]>>();
  for (const employeeId of await employeesWithCaptures(deps)) {
    const latest = await deps.ledger.latestEvent(employeeId);
    const state = latest?.state;
    // Consent now: active or paused; a withdrawn, erased or never-consenting employee is not asked.
    if (state === undefined || (state.status !== 'active' && state.status !== 'paused')) continue;
    const scopes = record.scopes.filter((scope) => state.scopes.includes(scope));
    if (scopes.length === 0) continue;
    const spans = lineageSpans(await deps.ledger.events(employeeId));
    const byScope = new Map<Scope, DatasetManifestLine[]>();
    for (const scope of scopes) {
      const lines: DatasetManifestLine[] = [];
      for (const object of await objectsOf(deps, employeeId, scope, from, to)) {
        if (object.from < from || object.to >= to) continue;
        const lineage = lineageOf(spans, scope, object.from, object.to);
        if (lineage === undefined) continue;
        lines.push({ bucket: deps.capturesBucket, key: object.key, employeeId, scope, batchId: object.batchId, from: object.from, to: object.to, events: object.events, lineage });
      }
      if (lines.length > 0) byScope.set(scope, lines);
    }
    if (byScope.size > 0) candidates.set(employeeId, byScope);
  }
  if (tooFew(deps, record, candidates)) return refuse(deps, record, 'too-few-employees-found');

  // Grants: the steward grants only what the newest event consents now, which may be less than found.
  // Each membership is recorded before its grant is asked for: a build that dies part-way (and is
  // never retried to the end) leaves no grant that the sweeper, which retires by membership, misses.
  const membership = (employeeId: string, scopes: readonly Scope[]) => ({ employeeId, datasetId, purpose: record.purpose, scopes: [...scopes], createdAt: record.createdAt, expiresAt: record.expiresAt });
  const members = new Map<string, Map<Scope, DatasetManifestLine[]>>();
  for (const [employeeId, byScope] of candidates) {
    await deps.store.addMember(membership(employeeId, [...byScope.keys()]));
    const granted = new Set(await deps.grants.grant(employeeId, datasetId, [...byScope.keys()]));
    const kept = new Map([...byScope].filter(([scope]) => granted.has(scope)));
    if (kept.size > 0) members.set(employeeId, kept);
  }
  if (tooFew(deps, record, members)) {
    // Consent changed while we built: no dataset below the minimum keeps a single grant.
    for (const employeeId of candidates.keys()) await deps.grants.retire(employeeId, datasetId);
    return refuse(deps, record, 'too-few-employees-granted');
  }

  const keys = datasetKeys(datasetId);
  const lines = [...members.values()].flatMap((byScope) => [...byScope.values()].flat());
  const header = { format: DATASET_MANIFEST_FORMAT, datasetId, scopes: record.scopes, from: record.from, to: record.to, createdAt: record.createdAt, expiresAt: record.expiresAt };
  const manifest = `${[header, ...lines].map((line) => JSON.stringify(line)).join('\n')}\n`;
  const counts = countsOf(members);
  const notices: Record<string, string> = {};
  for (const line of lines) notices[line.lineage.noticeVersion] = line.lineage.noticeSha256;
  const cardInput = {
    datasetId,
    purpose: record.purpose,
    scopes: record.scopes,
    from: record.from,
    to: record.to,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    counts,
    notices,
    manifest: { url: `s3://${deps.exportsBucket}/${keys.manifest}`, sha256: createHash('sha256').update(manifest).digest('hex') },
  };
  await put(deps, keys.manifest, manifest, 'application/jsonl');
  await put(deps, keys.card, `${JSON.stringify(croissantCard(cardInput), null, 2)}\n`, 'application/ld+json');
  await put(deps, keys.cardMarkdown, markdownCard(cardInput), 'text/markdown; charset=utf-8');
  // Each candidate's membership now says what was granted (nothing, for one whose consent changed meanwhile).
  for (const employeeId of candidates.keys()) await deps.store.addMember(membership(employeeId, [...(members.get(employeeId)?.keys() ?? [])]));
  const now = (deps.now ?? (() => new Date()))();
  await deps.store.update(datasetId, ['building'], 'ready', {
    counts,
    manifest: { bucket: deps.exportsBucket, key: keys.manifest, card: keys.card, cardMarkdown: keys.cardMarkdown },
    completedAt: now.toISOString(),
  });
  deps.logger.info('dataset built', { datasetId, employees: counts.employees, objects: counts.objects });
  return 'ready';
}

/** Retires every grant of each dataset whose expiry has passed, then marks it expired. Answers how many. */
export async function sweepExpired(deps: DatasetBuilderDeps): Promise<number> {
  const now = (deps.now ?? (() => new Date()))();
  const expired = await deps.store.expiredBy(now);
  for (const dataset of expired) {
    let revoked = 0;
    for (const member of await deps.store.membersOf(dataset.datasetId)) revoked += await deps.grants.retire(member.employeeId, dataset.datasetId);
    await deps.store.update(dataset.datasetId, ['ready', 'building'], 'expired', { expiredAt: now.toISOString() });
    deps.logger.info('dataset expired', { datasetId: dataset.datasetId, revoked });
  }
  return expired.length;
}

function tooFew(deps: DatasetBuilderDeps, record: DatasetRecord, members: ReadonlyMap<string, ReadonlyMap<Scope, unknown>>): boolean {
  const minimum = Math.max(record.minEmployees, deps.minEmployeesFloor ?? DEFAULT_MIN_EMPLOYEES);
  return record.scopes.some((scope) => [...members.values()].filter((byScope) => byScope.has(scope)).length < minimum);
}

async function refuse(deps: DatasetBuilderDeps, record: DatasetRecord, why: string): Promise<BuildOutcome> {
  const minimum = Math.max(record.minEmployees, deps.minEmployeesFloor ?? DEFAULT_MIN_EMPLOYEES);
  await deps.store.update(record.datasetId, ['building'], 'failed', { reason: `fewer than ${minimum} employees with consented data in every scope` });
  deps.logger.info('dataset refused', { datasetId: record.datasetId, why });
  return 'too-few-employees';
}

function countsOf(members: ReadonlyMap<string, ReadonlyMap<Scope, readonly DatasetManifestLine[]>>): DatasetCounts {
  const scopes: Partial<Record<Scope, { objects: number; events: number; employees: number }>> = {};
  let objects = 0;
  let events = 0;
  for (const byScope of members.values()) {
    for (const [scope, lines] of byScope) {
      const c = (scopes[scope] ??= { objects: 0, events: 0, employees: 0 });
      c.employees += 1;
      c.objects += lines.length;
      for (const line of lines) {
        c.events += line.events;
        events += line.events;
      }
      objects += lines.length;
    }
  }
  return { employees: members.size, objects, events, scopes };
}

async function put(deps: DatasetBuilderDeps, key: string, body: string, contentType: string): Promise<void> {
  // SSE-S3: manifests and cards hold paths, counts and lineage, no captured content.
  await deps.s3.send(new PutObjectCommand({ Bucket: deps.exportsBucket, Key: key, Body: body, ContentType: contentType, ServerSideEncryption: 'AES256' }));
}

/** `captures/{employeeId}/`: the employees who have any capture (a delimiter listing). */
async function employeesWithCaptures(deps: DatasetBuilderDeps): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await deps.s3.send(new ListObjectsV2Command({ Bucket: deps.capturesBucket, Prefix: CAPTURES_PREFIX, Delimiter: '/', ...(token === undefined ? {} : { ContinuationToken: token }) }));
    for (const p of page.CommonPrefixes ?? []) {
      const id = p.Prefix?.slice(CAPTURES_PREFIX.length, -1);
      if (id !== undefined && ID_PATTERN.test(id)) out.push(id);
    }
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return out;
}

interface CaptureObject {
  readonly key: string;
  readonly batchId: string;
  readonly from: number;
  readonly to: number;
  readonly events: number;
}

const KEY_DATE = /\/(\d{4})\/(\d{2})\/(\d{2})\/([^/]+)$/;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The employee's objects of one scope dated (by their first event's day) inside the range, with
 * the event-time range and count ingest recorded in their metadata. An object without them
 * (written before they existed) cannot be judged and is left out.
 */
async function objectsOf(deps: DatasetBuilderDeps, employeeId: string, scope: Scope, from: number, to: number): Promise<CaptureObject[]> {
  const prefix = `${CAPTURES_PREFIX}${employeeId}/${scope}/`;
  const keys: { key: string; batchId: string }[] = [];
  let token: string | undefined;
  do {
    const page = await deps.s3.send(new ListObjectsV2Command({ Bucket: deps.capturesBucket, Prefix: prefix, ...(token === undefined ? {} : { ContinuationToken: token }) }));
    for (const object of page.Contents ?? []) {
      const match = KEY_DATE.exec(object.Key ?? '');
      if (object.Key === undefined || match === null) continue;
      const day = Date.parse(`${match[1]}-${match[2]}-${match[3]}T00:00:00Z`);
      const batchId = match[4] ?? '';
      if (day + DAY_MS <= from || day >= to || !ID_PATTERN.test(batchId)) continue;
      keys.push({ key: object.Key, batchId });
    }
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  const out: CaptureObject[] = [];
  for (let i = 0; i < keys.length; i += HEAD_CONCURRENCY) {
    const heads = await Promise.all(
      keys.slice(i, i + HEAD_CONCURRENCY).map(async ({ key, batchId }) => {
        const head = await deps.s3.send(new HeadObjectCommand({ Bucket: deps.capturesBucket, Key: key }));
        const meta = head.Metadata ?? {};
        const first = Number(meta[EVENTS_FROM_METADATA]);
        const last = Number(meta[EVENTS_TO_METADATA]);
        const events = Number(meta['events']);
        if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || !Number.isSafeInteger(events) || last < first) return undefined;
        return { key, batchId, from: first, to: last, events };
      }),
    );
    for (const head of heads) if (head !== undefined) out.push(head);
  }
  return out;
}
