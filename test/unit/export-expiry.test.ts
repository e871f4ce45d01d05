// The export sweep's decisions, with the table, ledger and key steward faked: which grants it
// revokes on an employee's key, which jobs it marks expired, when it alarms, and what a failure on
// one employee does to the others. The end-to-end path (local KMS, steward role) is in
// test/e2e/export-worker.attack.test.ts.
import { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it } from 'vitest';
import { EXPORT_EXPIRED_REASON, EXPORT_LIFE_MS, exportGrantName } from '../../contract/export-expiry.js';
import type { AlarmMetric } from '../../contract/alarms.js';
import { expireExports, type ExportExpiryDeps } from '../../lambdas/key-sync/export-expiry.js';
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
