// The runbook's re-sync (tools/resync-keys): every employee in the ledger gets a key-sync job,
// paced, and the stack's key-sync worker writes each key policy again from the newest event.
import { GetKeyPolicyCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { resyncKeys } from '../../tools/resync-keys/resync.js';
import { employeeActor, inProcessConsent, type InProcessConsent } from '../support/in-process-services.js';
import { pollUntil, startTestStack, type TestStack } from '../support/local-stack.js';

const NOTICE = { noticeVersion: 'v1', noticeSha256: 'f'.repeat(64) };
let t: TestStack;
let consent: InProcessConsent;
beforeAll(async () => {
  // These tests plant stale key policies by writing them, as a role change leaves keys without any
  // write. The stack's policy-watch would see the write and repair it (test/e2e/policy-watch.test.ts),
  // racing the test, so here it is a fixture that only acknowledges its deliveries.
  t = await startTestStack({ functions: { 'policy-watch': { entry: 'test/fixtures/queue-handler.ts' } } });
  consent = inProcessConsent(t);
}, 60_000);
afterAll(async () => {
  consent?.destroy();
  await t?.close();
});

async function keyPolicySids(keyArn: string): Promise<string[]> {
  const policy = await t.kms('steward').send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }));
  return (JSON.parse(policy.Policy ?? '{}') as { Statement: { Sid: string }[] }).Statement.map((s) => s.Sid);
}

describe('resync-keys', () => {
  it('queues one job per employee at the rate asked, and the worker brings every key back to its ledger state', async () => {
    // Arrange: three employees; two keys no longer match their newest event (as after a role change).
    const stale: string[] = [];
    for (const id of ['e-r1', 'e-r2', 'e-r3']) {
      const granted = await consent.service.apply(id, { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor(id));
      if (id === 'e-r3') continue;
      await consent.service.apply(id, { type: 'pause', until: new Date(Date.now() + 3_600_000) }, employeeActor(id));
      await consent.steward.applyPolicy(granted.keyArn ?? '', granted);
      stale.push(granted.keyArn ?? '');
    }
    for (const arn of stale) expect(await keyPolicySids(arn)).not.toContain('Paused');
    const lines: string[] = [];
    const sleeps: number[] = [];
    let clock = 0;

    // Act: as the operator (the administrator), at 10 jobs per second.
    const report = await resyncKeys({
      db: t.documents('admin'),
      sqs: t.sqs('admin'),
      table: LOCAL_RESOURCES.tables.ledger,
      queueUrl: t.stack.queues.queueUrl(LOCAL_RESOURCES.queues.keySync),
      ratePerSecond: 10,
      progress: (line) => lines.push(line),
      now: () => clock,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
    });

    // Assert
    expect(report).toEqual({ employees: 3, queued: 3, skipped: 0 });
    expect(sleeps).toEqual([300]);
    expect(lines[0]).toBe('3 employees in the ledger, 3 to re-sync, 0 erased and skipped; about 1 min at 10/s');
    expect(lines.at(-1)).toBe('3/3 queued (100%)');
    for (const arn of stale) await pollUntil(async () => (await keyPolicySids(arn)).includes('Paused'), { timeoutMs: 15_000, what: 'the key-sync worker' });
  });

  it('skips erased employees and queues nothing on a dry run', async () => {
    await consent.service.apply('e-r4', { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor('e-r4'));
    const state = await consent.ledger.readState('e-r4');
    if (state === undefined) throw new Error('no state for e-r4');
    await consent.ledger.writeState({ ...state, status: 'purged', sequence: 99 });

    const report = await resyncKeys({
      db: t.documents('admin'),
      sqs: t.sqs('admin'),
      table: LOCAL_RESOURCES.tables.ledger,
      queueUrl: t.stack.queues.queueUrl(LOCAL_RESOURCES.queues.keySync),
      ratePerSecond: 15,
      dryRun: true,
      progress: () => undefined,
    });

    expect(report).toEqual({ employees: 4, queued: 0, skipped: 1 });
  });
});
