// The export sweep's decisions, with the table, ledger and key steward faked: which grants it
// revokes on an employee's key, which jobs it marks expired, when it alarms, and what a failure on
// one employee does to the others. The end-to-end path (local KMS, steward role) is in
// test/e2e/export-worker.attack.test.ts.
import { Logger } from '@aws-lambda-powertools/logger';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { EXPORT_EXPIRED_REASON, EXPORT_LIFE_MS, exportGrantName } from '../../contract/export-expiry.js';
import type { AlarmMetric } from '../../contract/alarms.js';
import { expireExports, SweepCutShortError, type ExportExpiryDeps } from '../../lambdas/key-sync/export-expiry.js';
import { createKeySyncHandler } from '../../lambdas/key-sync/key-sync-worker.js';
import type { ConsentStatus } from '../../lambdas/shared/consent-model.js';
import type { ExportJobRecord } from '../../lambdas/shared/export-jobs.js';

const NOW = new Date('2026-11-30T12:00:00.000Z');
const HOUR = 60 * 60 * 1000;
const ago = (ms: number) => new Date(NOW.getTime() - ms);

interface FakeGrant {
  readonly name: string | undefined;
  readonly createdAt: Date | undefined;
}

function sweepWorld(options: { jobs: ExportJobRecord[]; grants?: Record<string, FakeGrant[]>; status?: Record<string, ConsentStatus>; failingKeys?: string[] }) {
  const updates: { employeeId: string; exportId: string; reason: string | undefined }[] = [];
  const revoked: { keyArn: string; name: string | undefined }[] = [];
  const alarms: AlarmMetric[] = [];
  const deps: ExportExpiryDeps = {
    jobs: {
      unfinished: () => Promise.resolve(options.jobs),
      update: (employeeId, exportId, _from, changes) => {
        updates.push({ employeeId, exportId, reason: changes.reason });
        return Promise.resolve(true);
      },
    },
    ledger: {
      head: (employeeId) =>
        Promise.resolve({
          sequence: 1,
          newestValid: { state: { employeeId, status: options.status?.[employeeId] ?? 'active', keyArn: `key-${employeeId}` } } as never,
        }),
    },
    steward: {
      revokeExportGrants: (keyArn, doomed) => {
        if (options.failingKeys?.includes(keyArn)) return Promise.reject(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));
        const picked = (options.grants?.[keyArn] ?? []).filter(doomed);
        revoked.push(...picked.map((g) => ({ keyArn, name: g.name })));
        return Promise.resolve(picked.length);
      },
    },
    alarms: { raise: (metric) => alarms.push(metric) },
    logger: new Logger({ serviceName: 'test-export-expiry', logLevel: 'SILENT' }),
    now: () => NOW,
  };
  return { deps, updates, revoked, alarms };
}

function job(employeeId: string, exportId: string, requestedAt: Date, status: ExportJobRecord['status'] = 'queued'): ExportJobRecord {
  return { employeeId, exportId, status, requestedAt: requestedAt.toISOString() };
}

describe('the export sweep', () => {
  it('revokes an expired export\'s grant by name whatever KMS dated it, and old export grants no live export accounts for', async () => {
    // Arrange: one expired and one live export of e-1; on its key, their grants, an old stray
    // export grant (a job whose queueing failed) and a young stray one.
    const world = sweepWorld({
      jobs: [job('e-1', 'x-old', ago(EXPORT_LIFE_MS + 1)), job('e-1', 'x-live', ago(HOUR), 'running')],
      grants: {
        'key-e-1': [
          { name: exportGrantName('x-old'), createdAt: ago(EXPORT_LIFE_MS - 10_000) },
          { name: exportGrantName('x-live'), createdAt: ago(EXPORT_LIFE_MS + 10_000) },
          { name: exportGrantName('x-stray-old'), createdAt: ago(2 * EXPORT_LIFE_MS) },
          { name: exportGrantName('x-stray-young'), createdAt: ago(HOUR) },
        ],
      },
    });

    // Act
    const outcome = await expireExports(world.deps);

    // Assert
    expect(world.revoked.map((r) => r.name).sort()).toEqual([exportGrantName('x-old'), exportGrantName('x-stray-old')]);
    expect(world.updates).toEqual([{ employeeId: 'e-1', exportId: 'x-old', reason: EXPORT_EXPIRED_REASON }]);
    expect(outcome).toEqual({ expired: 1, revoked: 2 });
    expect(world.alarms).toEqual(['ExportGrantExpired']);
  });

  it('touches no key of an employee whose exports are all younger than their life, and does not alarm', async () => {
    // Arrange
    const world = sweepWorld({ jobs: [job('e-2', 'x-young', ago(EXPORT_LIFE_MS - 1000))], grants: { 'key-e-2': [{ name: exportGrantName('x-young'), createdAt: ago(2 * EXPORT_LIFE_MS) }] } });

    // Act
    const outcome = await expireExports(world.deps);

    // Assert
    expect(outcome).toEqual({ expired: 0, revoked: 0 });
    expect(world.revoked).toEqual([]);
    expect(world.updates).toEqual([]);
    expect(world.alarms).toEqual([]);
  });

  it('marks an expired export of an erased employee failed without calling KMS (the erasure revoked every grant)', async () => {
    // Arrange
    const world = sweepWorld({ jobs: [job('e-3', 'x-erased', ago(EXPORT_LIFE_MS + 1))], status: { 'e-3': 'purged' }, failingKeys: ['key-e-3'] });

    // Act
    const outcome = await expireExports(world.deps);

    // Assert
    expect(outcome).toEqual({ expired: 1, revoked: 0 });
    expect(world.alarms).toEqual([]);
  });

  it('treats a job whose request time cannot be read as expired', async () => {
    // Arrange
    const world = sweepWorld({ jobs: [{ employeeId: 'e-4', exportId: 'x-undated', status: 'queued', requestedAt: 'not a time' }], grants: { 'key-e-4': [{ name: exportGrantName('x-undated'), createdAt: NOW }] } });

    // Act
    await expireExports(world.deps);

    // Assert
    expect(world.revoked).toEqual([{ keyArn: 'key-e-4', name: exportGrantName('x-undated') }]);
  });

  it('treats a job dated after now, or dated in any form but the ISO time it is written in, as expired', async () => {
    // Arrange: a kept job re-dated ahead by a table writer (to keep its grant), and one whose time
    // Date.parse would read as a year (`42` is 2042).
    const world = sweepWorld({
      jobs: [
        { employeeId: 'e-9', exportId: 'x-ahead', status: 'running', requestedAt: new Date(NOW.getTime() + 10 * HOUR).toISOString() },
        { employeeId: 'e-9', exportId: 'x-year', status: 'running', requestedAt: '42' },
        { employeeId: 'e-9', exportId: 'x-number', status: 'running', requestedAt: 42 as unknown as string },
      ],
      grants: { 'key-e-9': ['x-ahead', 'x-year', 'x-number'].map((id) => ({ name: exportGrantName(id), createdAt: NOW })) },
    });

    // Act
    const outcome = await expireExports(world.deps);

    // Assert
    expect(outcome).toEqual({ expired: 3, revoked: 3 });
  });

  it('sweeps the other employees when one key fails, leaves that one\'s job for the retry, and then fails', async () => {
    // Arrange
    const world = sweepWorld({
      jobs: [job('e-5', 'x-fails', ago(EXPORT_LIFE_MS + 1)), job('e-6', 'x-swept', ago(EXPORT_LIFE_MS + 1))],
      grants: { 'key-e-6': [{ name: exportGrantName('x-swept'), createdAt: ago(EXPORT_LIFE_MS + 1) }] },
      failingKeys: ['key-e-5'],
    });

    // Act
    const swept = expireExports(world.deps);

    // Assert: e-6 swept and alarmed; e-5's job not marked (revoking comes first), so the retry finds it.
    await expect(swept).rejects.toThrow('throttled');
    expect(world.updates.map((u) => u.exportId)).toEqual(['x-swept']);
    expect(world.alarms).toEqual(['ExportGrantExpired']);
  });
});

describe('the export sweep in the key-sync worker, under a flood of sweep jobs', () => {
  // Whoever may queue key-sync jobs (the consent, policy-watch and steward roles) may queue
  // `expire-exports`: each must not cost a full table scan and a grant listing, and a sweep must
  // neither delay nor take down the key-policy syncs (withdrawals) batched with it.
  function worker(options: { sweep?: (timeLeftMs: () => number) => Promise<unknown>; remainingMs?: () => number } = {}) {
    const calls: string[] = [];
    const handler = createKeySyncHandler({
      sync: {
        syncNewest: (employeeId) => {
          calls.push(`sync ${employeeId}`);
          return Promise.resolve(undefined);
        },
      },
      sqs: {} as SQSClient,
      queueUrl: 'http://127.0.0.1/key-sync',
      logger: new Logger({ serviceName: 'test-key-sync', logLevel: 'SILENT' }),
      expireExports: (timeLeftMs) => {
        calls.push('sweep');
        return options.sweep === undefined ? Promise.resolve(undefined) : options.sweep(timeLeftMs);
      },
    });
    const context = { getRemainingTimeInMillis: options.remainingMs ?? (() => 60_000) } as unknown as Context;
    let n = 0;
    const batch = (...bodies: unknown[]): SQSEvent => ({ Records: bodies.map((body) => ({ messageId: `m-${(n += 1)}`, body: JSON.stringify(body) }) as SQSRecord) });
    return { calls, run: (event: SQSEvent) => handler(event, context), batch };
  }
  const SWEEP = { kind: 'expire-exports' };

  it('sweeps once for a batch of ten sweep jobs and for the batches right after it, and answers every job', async () => {
    // Arrange
    const w = worker();

    // Act
    const first = await w.run(w.batch(...Array.from({ length: 10 }, () => SWEEP)));
    const second = await w.run(w.batch(...Array.from({ length: 10 }, () => SWEEP)));

    // Assert
    expect(w.calls).toEqual(['sweep']);
    expect(first.batchItemFailures).toEqual([]);
    expect(second.batchItemFailures).toEqual([]);
  });

  it('sweeps again after a sweep that failed (its retry is not skipped)', async () => {
    // Arrange
    let fail = true;
    const w = worker({ sweep: () => (fail ? Promise.reject(new Error('a key failed')) : Promise.resolve(undefined)) });

    // Act
    const failed = await w.run(w.batch(SWEEP));
    fail = false;
    const retried = await w.run(w.batch(SWEEP));

    // Assert
    expect(failed.batchItemFailures).toHaveLength(1);
    expect(retried.batchItemFailures).toEqual([]);
    expect(w.calls).toEqual(['sweep', 'sweep']);
  });

  it('syncs the batch\'s key policies before sweeping, and hands the sweep the invocation\'s time less a reserve', async () => {
    // Arrange
    let handed: number | undefined;
    const w = worker({ remainingMs: () => 40_000, sweep: (timeLeftMs) => Promise.resolve((handed = timeLeftMs())) });

    // Act
    await w.run(w.batch(SWEEP, { employeeId: 'e-withdrawing', sequence: 3 }, { employeeId: 'e-pausing', sequence: 2 }));

    // Assert
    expect(w.calls).toEqual(['sync e-withdrawing', 'sync e-pausing', 'sweep']);
    expect(handed).toBeGreaterThan(0);
    expect(handed).toBeLessThan(40_000);
  });

  it('stops starting employees once its time is spent, keeps what it did, and fails so that its retry goes on', async () => {
    // Arrange: time for one employee.
    const world = sweepWorld({ jobs: [job('e-7', 'x-first', ago(EXPORT_LIFE_MS + 1)), job('e-8', 'x-second', ago(EXPORT_LIFE_MS + 1))] });
    let left = 1;
    const deps: ExportExpiryDeps = { ...world.deps, timeLeftMs: () => (left -= 1) + 1 };

    // Act
    const swept = expireExports(deps);

    // Assert
    await expect(swept).rejects.toBeInstanceOf(SweepCutShortError);
    expect(world.updates.map((u) => u.exportId)).toEqual(['x-first']);
  });
});
