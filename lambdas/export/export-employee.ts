// Runs one export job: mark it running, write the file and its manifest, mark it ready, record
// `export-ready` in the ledger, release the employee's lock and retire the grant. Every step is
// idempotent, so a job delivered again (a killed or failed attempt) finishes it without a second
// file or a second event. A job that cannot succeed (erased meanwhile, or its last attempt) is
// marked failed with a reason, and its grant is retired too: the grant never outlives the job.
import type { Logger } from '@aws-lambda-powertools/logger';
import { RetireGrantCommand, type KMSClient } from '@aws-sdk/client-kms';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { EXPORT_FORMAT, exportFileKeys, type ExportManifest } from '../../contract/export-format.js';
import type { ExportJob } from '../../contract/jobs.js';
import type { ConsentEvent } from '../shared/consent-state.js';
import { isAwsError } from '../shared/errors.js';
import type { ExportJobs } from '../shared/export-jobs.js';
import type { Ledger } from '../shared/ledger.js';
import { appendRestating } from '../shared/restating-append.js';
import { CaptureReader } from './capture-reader.js';
import { writeExportFile } from './export-file.js';

export interface ExportDeps {
  readonly ledger: Ledger;
  readonly jobs: ExportJobs;
  readonly s3: S3Client;
  readonly kms: KMSClient;
  readonly capturesBucket: string;
  readonly exportsBucket: string;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export type ExportOutcome = 'ready' | 'failed' | 'already-finished' | 'no-job' | 'not-its-job';

/** The export cannot succeed whatever the retries: it is marked failed at once. */
export class ExportFailedError extends Error {
  override readonly name = 'ExportFailedError';
  /** A sentence for the employee; the job record keeps it. */
  constructor(readonly reason: string) {
    super(reason);
  }
}

const EXPORT_WORKER = { kind: 'service', name: 'export-worker' } as const;
/** An export runs while the key exists and is not being shredded: whatever the consent, but not once erased. */
const EXPORTABLE = ['active', 'paused', 'revoked'] as const;

export async function runExport(deps: ExportDeps, job: ExportJob): Promise<ExportOutcome> {
  const { jobs, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const { employeeId, exportId } = job;
  const record = await jobs.get(employeeId, exportId);
  if (record === undefined) {
    // Never created (forged), or expired (TTL, two days): touch nothing. The message's grant may
    // be another export's, and the worker cannot tell; a real export's grant left behind is
    // revoked by the export-expiry sweep once its life is over (lambdas/key-sync/export-expiry.ts).
    logger.warn('export job not found; ignored', { employeeId, exportId });
    return 'no-job';
  }
  // The consent function recorded the key and grant beside the job before queueing it: a message
  // naming others (forged, or stale) must not retire another export's grant or touch this job.
  if ((record.keyArn !== undefined && record.keyArn !== job.keyArn) || (record.grantId !== undefined && record.grantId !== job.grantId)) {
    logger.error('export job does not match its record; ignored', { employeeId, exportId });
    return 'not-its-job';
  }
  if (record.status === 'failed') {
    await finish(deps, job);
    return 'already-finished';
  }
  if (record.status !== 'ready') {
    if (!(await jobs.update(employeeId, exportId, ['queued', 'running'], { status: 'running' }, { countAttempt: true }))) {
      // Another attempt finished it between the read and this write.
      return runExport(deps, job);
    }
    const history = await deps.ledger.events(employeeId);
    const status = history.at(-1)?.state.status;
    if (status === undefined || !(EXPORTABLE as readonly string[]).includes(status)) throw new ExportFailedError('the data was erased while the export was being prepared');
    const keys = exportFileKeys(employeeId, exportId);
    const reader = new CaptureReader({ s3: deps.s3, kms: deps.kms, bucket: deps.capturesBucket, employeeId, keyArn: job.keyArn, grantToken: job.grantToken });
    const started = Date.now();
    const file = await writeExportFile({
      s3: deps.s3,
      capturesBucket: deps.capturesBucket,
      exportsBucket: deps.exportsBucket,
      employeeId,
      fileKey: keys.file,
      reader,
      onObject: (done) => {
        if (done % 500 === 0) logger.info('export progress', { employeeId, exportId, objects: done });
      },
    });
    const completedAt = now().toISOString();
    const manifest: ExportManifest = {
      format: EXPORT_FORMAT,
      exportId,
      employeeId,
      requestedAt: record.requestedAt,
      completedAt,
      file: { key: keys.file, bytes: file.bytes, sha256: file.sha256, lines: file.lines },
      objects: file.objects,
      counts: file.counts,
      ...(file.timeRange === undefined ? {} : { timeRange: file.timeRange }),
      unreadable: file.unreadable,
      consentHistory: history.map(historyEntry),
    };
    await deps.s3.send(
      new PutObjectCommand({ Bucket: deps.exportsBucket, Key: keys.manifest, Body: JSON.stringify(manifest, null, 2), ContentType: 'application/json' }),
    );
    // An erasure answered while the file was being written may have had its purge sweep exports/
    // before the upload completed: the file is then never handed out. (One answered after this
    // read is swept by its purge, whose sweeps come after this upload.)
    const afterWrite = (await deps.ledger.latestEvent(employeeId))?.state.status;
    if (afterWrite === undefined || !(EXPORTABLE as readonly string[]).includes(afterWrite)) throw new ExportFailedError('the data was erased while the export was being prepared');
    // Ready only now: the file is complete (its upload finished) and its manifest is beside it.
    const markedReady = await jobs.update(employeeId, exportId, ['running'], {
      status: 'ready',
      completedAt,
      fileKey: keys.file,
      manifestKey: keys.manifest,
      sha256: file.sha256,
      counts: { events: file.counts, objects: file.objects.exported, unreadable: file.objects.unreadable },
    });
    if (!markedReady) {
      // The export sweep ended the job meanwhile (it outlived its life, 5 hours): it stays failed,
      // no URL is handed out, and the ledger records no export-ready.
      logger.warn('export finished after its job was ended; not marked ready', { employeeId, exportId });
      await finish(deps, job);
      return 'already-finished';
    }
    logger.info('export written', { employeeId, exportId, objects: file.objects, lines: file.lines, bytes: file.bytes, ms: Date.now() - started });
  }
  const recorded = await appendRestating(deps.ledger, employeeId, {
    kind: 'export-ready',
    actor: EXPORT_WORKER,
    details: { exportId },
    allowedIn: EXPORTABLE,
    alreadyRecorded: (events) => events.some((e) => e.kind === 'export-ready' && e.details?.['exportId'] === exportId),
    at: now(),
  });
  // Erased after the file was written: the purge deletes it (its second sweep covers exports/);
  // the ledger gets no event that would restate a consent being shredded.
  if (!recorded.appended && recorded.why === 'status') logger.warn('export finished after an erasure began; not recorded as ready', { employeeId, exportId, status: recorded.status });
  await finish(deps, job);
  return record.status === 'ready' ? 'already-finished' : 'ready';
}

/** Marks the job failed (unless it is ready), then releases the lock and retires the grant. */
export async function failExport(deps: ExportDeps, job: ExportJob, reason: string): Promise<void> {
  await deps.jobs.update(job.employeeId, job.exportId, ['queued', 'running'], { status: 'failed', reason, completedAt: (deps.now?.() ?? new Date()).toISOString() });
  await finish(deps, job);
}

async function finish(deps: ExportDeps, job: ExportJob): Promise<void> {
  await deps.jobs.unlock(job.employeeId, job.exportId);
  await retireGrant(deps, job);
}

/** Retires the export's grant as its retiring principal; one already gone is fine. */
async function retireGrant(deps: ExportDeps, job: ExportJob): Promise<void> {
  try {
    await deps.kms.send(new RetireGrantCommand({ KeyId: job.keyArn, GrantId: job.grantId }));
  } catch (error) {
    // Retired by an earlier attempt, or revoked by a withdrawal or erasure: the goal is reached.
    if (isAwsError(error, 'NotFoundException', 'KMSInvalidStateException')) return;
    throw error;
  }
}

function historyEntry(event: ConsentEvent): ExportManifest['consentHistory'][number] {
  const { state } = event;
  return {
    sequence: event.sequence,
    kind: event.kind,
    at: event.at,
    actor: event.actor,
    status: state.status,
    scopes: [...state.scopes],
    ...(state.pausedUntil === undefined ? {} : { pausedUntil: state.pausedUntil }),
    ...(state.noticeVersion === undefined ? {} : { noticeVersion: state.noticeVersion }),
    ...(event.details === undefined ? {} : { details: { ...event.details } }),
  };
}
