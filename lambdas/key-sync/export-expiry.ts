// The hourly export sweep, run by the key-sync worker as the steward role: an export still queued
// or running past its longest life (5 hours) has its grant revoked and is marked failed, so that
// whoever took the job (a stuck worker, or someone running as the export role) loses Decrypt.
import type { Logger } from '@aws-lambda-powertools/logger';
import { EXPORT_EXPIRED_REASON, EXPORT_LIFE_MS, exportGrantName } from '../../contract/export-expiry.js';
import type { Alarms } from '../shared/alarm-metrics.js';
import type { ExportJobRecord, ExportJobs } from '../shared/export-jobs.js';
import type { KeySteward } from '../shared/key-steward.js';
import type { Ledger } from '../shared/ledger.js';

export interface ExportExpiryDeps {
  readonly jobs: Pick<ExportJobs, 'unfinished' | 'update'>;
  readonly ledger: Pick<Ledger, 'head'>;
  readonly steward: Pick<KeySteward, 'revokeExportGrants'>;
  readonly alarms: Alarms;
  readonly logger: Logger;
  /** The sweep's clock. @default - the system clock */
  readonly now?: () => Date;
  /**
   * Time left to start another employee's exports (the invocation's, less a reserve): once spent,
   * the sweep stops and fails, so the job is retried and the next run goes on from what is left.
   * @default - no limit
   */
  readonly timeLeftMs?: () => number;
}

/** The sweep ran out of its invocation's time; what it did is kept, the rest is for its retry. */
export class SweepCutShortError extends Error {
  override readonly name = 'SweepCutShortError';
}

export interface ExportExpiryOutcome {
  /** Exports marked failed (expired). */
  readonly expired: number;
  /** Export grants revoked. */
  readonly revoked: number;
}

/** How far ahead of the sweep's clock another function's clock may be. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

/** The job's request time in epoch ms, if it is the ISO time the consent function writes. */
function requestedAtOf(job: ExportJobRecord): number | undefined {
  const value: unknown = job.requestedAt;
  if (typeof value !== 'string' || !ISO_TIME.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isFinite(at) ? at : undefined;
}

/** Consent states whose key is shredded or being shredded: the erasure revoked every grant already. */
const ERASED = new Set(['purging', 'purged']);

/**
 * Ends every export older than its life: per employee, revokes on the key the ledger records (never
 * one a job item names) that export's grant and any older export grant no live export accounts
 * for; then marks the export failed, `expired`. Revoking comes first, so a sweep cut short leaves
 * the job for the next one. An employee whose key could not be swept fails the sweep after the
 * others are done, so the queue retries it.
 */
export async function expireExports(deps: ExportExpiryDeps): Promise<ExportExpiryOutcome> {
  const now = (deps.now ?? (() => new Date()))();
  const cutoff = now.getTime() - EXPORT_LIFE_MS;
  const byEmployee = new Map<string, ExportJobRecord[]>();
  for (const job of await deps.jobs.unfinished()) byEmployee.set(job.employeeId, [...(byEmployee.get(job.employeeId) ?? []), job]);

  let expired = 0;
  let revoked = 0;
  let failed: unknown;
  let started = 0;
  for (const [employeeId, jobs] of byEmployee) {
    if (deps.timeLeftMs !== undefined && deps.timeLeftMs() <= 0) {
      deps.logger.warn('export sweep out of time; its retry goes on', { employeesLeft: byEmployee.size - started });
      failed ??= new SweepCutShortError('the export sweep ran out of time');
      break;
    }
    started += 1;
    // A job without a readable request time cannot be dated, so it cannot be live: only the ISO
    // form the consent function writes counts (Date.parse reads `42` as the year 2042), and not
    // a time after now (a table writer re-dating a kept job to keep its grant).
    const isOld = (job: ExportJobRecord) => {
      const at = requestedAtOf(job);
      return at === undefined || at <= cutoff || at > now.getTime() + CLOCK_SKEW_MS;
    };
    const old = jobs.filter(isOld);
    if (old.length === 0) continue;
    const live = new Set(jobs.filter((job) => !isOld(job)).map((job) => exportGrantName(job.exportId)));
    try {
      const state = (await deps.ledger.head(employeeId)).newestValid?.state;
      if (state?.keyArn !== undefined && !ERASED.has(state.status)) {
        // The expired exports' grants whatever their date (KMS's clock may differ from ours), and
        // any other export grant older than an export's life that no live export accounts for.
        const doomed = new Set(old.map((job) => exportGrantName(job.exportId)));
        revoked += await deps.steward.revokeExportGrants(state.keyArn, (grant) => {
          if (grant.name !== undefined && doomed.has(grant.name)) return true;
          if (grant.name !== undefined && live.has(grant.name)) return false;
          return grant.createdAt === undefined || grant.createdAt.getTime() <= cutoff;
        });
      }
      for (const job of old) {
        if (await deps.jobs.update(employeeId, job.exportId, ['queued', 'running'], { status: 'failed', reason: EXPORT_EXPIRED_REASON, completedAt: now.toISOString() })) expired += 1;
      }
      deps.logger.warn('exports expired', { employeeId, exportIds: old.map((job) => job.exportId) });
    } catch (error) {
      deps.logger.error('could not expire the exports of an employee; the sweep will be retried', { employeeId, cause: error instanceof Error ? error.name : typeof error });
      failed ??= error;
    }
  }
  if (revoked > 0) deps.alarms.raise('ExportGrantExpired');
  deps.logger.info('export sweep done', { expired, revoked });
  if (failed !== undefined) throw failed;
  return { expired, revoked };
}
