// The consent service and the purge when KMS throttles or fails and SQS fails: a recorded change is
// never answered with a failure it does not deserve, withdrawal is never blocked by a pending key
// write, a purge job is never lost, and a purge is recorded only once the key is shredded.
import { DescribeKeyCommand, GetKeyPolicyCommand } from '@aws-sdk/client-kms';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { ConsentEvent } from '../../lambdas/shared/consent-state.js';
import { eventSortKey } from '../../lambdas/shared/ledger.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { employeeActor, inProcessConsent, inProcessPurge, type InProcessConsent, type InProcessPurge } from '../support/in-process-services.js';
import { pollUntil, startTestStack, type TestStack } from '../support/local-stack.js';
import { FaultPlan, serviceError } from '../support/sdk-faults.js';

const NOTICE = { noticeVersion: 'v1', noticeSha256: 'd'.repeat(64) };
let t: TestStack;
let faults: FaultPlan;
let consent: InProcessConsent;
let purge: InProcessPurge;
beforeAll(async () => {
  t = await startTestStack();
  faults = new FaultPlan();
  consent = inProcessConsent(t, { faults });
  purge = inProcessPurge(t, { faults });
}, 60_000);
afterAll(async () => {
  consent.destroy();
  purge.destroy();
  await t.close();
});

const throttlePolicyWrites = (times: number) =>
  faults.arm({ match: (c) => c.service === 'steward-kms' && c.command === 'PutKeyPolicyCommand', times, error: () => serviceError('ThrottlingException', 400) });

async function keyPolicySids(keyArn: string): Promise<string[]> {
  const policy = await t.kms('steward').send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }));
  return (JSON.parse(policy.Policy ?? '{}') as { Statement: { Sid: string }[] }).Statement.map((s) => s.Sid);
}

describe('KMS throttling PutKeyPolicy', () => {
  it('answers a pause that is recorded, and the key-sync worker writes the policy later', async () => {
    // Arrange
    const granted = await consent.service.apply('e-throttle', { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor('e-throttle'));
    throttlePolicyWrites(1);

    // Act
    const paused = await consent.service.apply('e-throttle', { type: 'pause', until: new Date(Date.now() + 3_600_000) }, employeeActor('e-throttle'));

    // Assert: recorded at once, and the key catches up through the key-sync queue.
    expect(faults.pending()).toBe(0);
    expect(paused.status).toBe('paused');
    expect((await consent.ledger.latestEvent('e-throttle'))?.state.status).toBe('paused');
    await pollUntil(async () => (await keyPolicySids(granted.keyArn ?? '')).includes('Paused'), { timeoutMs: 10_000, what: 'the key-sync worker' });
    await pollUntil(async () => (await consent.ledger.readState('e-throttle'))?.sequence === paused.sequence, { what: 'the state cache' });
  });

  it('does not block a withdrawal behind an earlier change whose key write is still pending', async () => {
    // Arrange: a pause recorded while KMS throttles everything for a while.
    const granted = await consent.service.apply('e-withdraw', { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor('e-withdraw'));
    throttlePolicyWrites(4);
    await consent.service.apply('e-withdraw', { type: 'pause', until: new Date(Date.now() + 3_600_000) }, employeeActor('e-withdraw'));

    // Act: the employee withdraws while KMS is still throttling.
    const revoked = await consent.service.apply('e-withdraw', { type: 'revoke', erase: false }, employeeActor('e-withdraw'));

    // Assert
    expect(revoked.status).toBe('revoked');
    faults.clear();
    await pollUntil(async () => !(await keyPolicySids(granted.keyArn ?? '')).includes('CaptureWhileConsented'), { timeoutMs: 10_000, what: 'the revoked policy on the key' });
  });
});

describe('a lost race for the next ledger sequence', () => {
  it('retries on the newer state and answers the change, leaving a gapless ledger', async () => {
    // Arrange: e-race has consented; another writer (the employee's second device) pauses just
    // before our revoke's append goes out, so the append really loses with ConditionalCheckFailed.
    await consent.service.apply('e-race', { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor('e-race'));
    const other = inProcessConsent(t);
    const pausedByOther: string[] = [];
    faults.arm({
      match: (c) =>
        c.service === 'consent-dynamodb' &&
        c.command.startsWith('Put') &&
        c.input['TableName'] === LOCAL_RESOURCES.tables.ledger &&
        JSON.stringify(c.input['Item']).includes(eventSortKey(2)) &&
        JSON.stringify(c.input['Item']).includes('"e-race"'),
      before: async () => {
        pausedByOther.push((await other.service.apply('e-race', { type: 'pause', until: new Date(Date.now() + 3_600_000) }, employeeActor('e-race'))).status);
      },
    });

    // Act
    const revoked = await consent.service.apply('e-race', { type: 'revoke', erase: false }, employeeActor('e-race')).finally(() => other.destroy());

    // Assert
    expect(faults.pending()).toBe(0);
    expect(pausedByOther).toEqual(['paused']);
    expect(revoked).toMatchObject({ status: 'revoked', sequence: 3 });
    const events = await consent.ledger.events('e-race');
    expect(events.map((e) => [e.sequence, e.kind])).toEqual([
      [1, 'granted'],
      [2, 'paused'],
      [3, 'revoked'],
    ]);
    expect((await consent.ledger.readState('e-race'))?.sequence).toBe(3);
  });
});

describe('SQS failing to take a purge job', () => {
  it('leaves the state cache behind so the next call queues the purge again, and the purge completes', async () => {
    // Arrange
    await consent.service.apply('e-lost', { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor('e-lost'));
    faults.arm({ match: (c) => c.service === 'consent-sqs' && c.command === 'SendMessageCommand', error: () => serviceError('InternalError', 500) });

    // Act: the erase is recorded, but its purge job cannot be sent.
    await expect(consent.service.apply('e-lost', { type: 'revoke', erase: true }, employeeActor('e-lost'))).rejects.toThrow(/InternalError|injected/);
    const afterFailure = await consent.ledger.readState('e-lost');
    // The employee (or their app) retries the erase; nothing is appended, the job is re-queued.
    const retried = await consent.service.apply('e-lost', { type: 'revoke', erase: true }, employeeActor('e-lost'));

    // Assert
    expect(afterFailure?.status).toBe('active');
    expect(retried.status).toBe('purging');
    await pollUntil(async () => (await consent.ledger.latestEvent('e-lost'))?.kind === 'purged', { timeoutMs: 15_000, what: 'the purge' });
    expect(t.stack.queues.deadLetters(LOCAL_RESOURCES.queues.purge)).toEqual([]);
  });
});

describe('KMS refusing PutKeyPolicy for good (not throttling)', () => {
  // A failing assertion must not leave its faults armed for the next test.
  afterEach(() => faults.clear());

  it('still records a revoke, answers it, queues a key-sync job and raises the alarm', async () => {
    // Arrange
    await consent.service.apply('e-denied', { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor('e-denied'));
    const sentBefore = faults.calls.length;
    faults.arm({ match: (c) => c.service === 'steward-kms' && c.command === 'PutKeyPolicyCommand', times: 10, error: () => serviceError('AccessDeniedException', 400) });

    // Act
    const revoked = await consent.service.apply('e-denied', { type: 'revoke', erase: false }, employeeActor('e-denied'));
    faults.clear();

    // Assert: recorded and answered; the job went to the key-sync queue; the alarm fired.
    expect(revoked.status).toBe('revoked');
    expect(await consent.ledger.latestEvent('e-denied')).toMatchObject({ kind: 'revoked', sequence: revoked.sequence });
    const jobs = faults.calls
      .slice(sentBefore)
      .filter((c) => c.service === 'consent-sqs' && c.command === 'SendMessageCommand' && String(c.input['QueueUrl']).includes(LOCAL_RESOURCES.queues.keySync));
    expect(jobs.map((c) => JSON.parse(String(c.input['MessageBody'])))).toEqual([{ employeeId: 'e-denied', sequence: revoked.sequence }]);
    expect(consent.alarms.raised).toContain('WithdrawalEnforcementDeferred');
    // The key-sync worker (no fault) then writes the revoked policy.
    await pollUntil(async () => !(await keyPolicySids(revoked.keyArn ?? '')).includes('CaptureWhileConsented'), { timeoutMs: 10_000, what: 'the key-sync worker' });
  });

  it('still records a revoke when repairing an earlier unfinished change fails the same way', async () => {
    // Arrange: a pause is recorded, but its key write is refused for good, so the call fails and
    // leaves the state cache behind the ledger; the next change must first repair it.
    const granted = await consent.service.apply('e-denied-repair', { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor('e-denied-repair'));
    faults.arm({ match: (c) => c.service === 'steward-kms' && c.command === 'PutKeyPolicyCommand', times: 20, error: () => serviceError('AccessDeniedException', 400) });
    const pause = await consent.service.apply('e-denied-repair', { type: 'pause', until: new Date(Date.now() + 3_600_000) }, employeeActor('e-denied-repair')).then(
      () => 'answered',
      (e: Error) => e.name,
    );
    const cacheBehind = (await consent.ledger.readState('e-denied-repair'))?.sequence;

    // Act: the employee withdraws while KMS still refuses every key write (the repair's included).
    const revoked = await consent.service.apply('e-denied-repair', { type: 'revoke', erase: false }, employeeActor('e-denied-repair'));
    faults.clear();

    // Assert: the pause was recorded and unfinished; the withdrawal was recorded on top of it,
    // answered, alarmed, and then enforced by the key-sync worker.
    expect(pause).toBe('StewardFailedError');
    expect(cacheBehind).toBe(granted.sequence);
    expect(revoked.status).toBe('revoked');
    expect((await consent.ledger.events('e-denied-repair')).map((e) => e.kind)).toEqual(['granted', 'paused', 'revoked']);
    expect(consent.alarms.raised).toContain('WithdrawalEnforcementDeferred');
    await pollUntil(async () => !(await keyPolicySids(granted.keyArn ?? '')).includes('CaptureWhileConsented'), { timeoutMs: 10_000, what: 'the key-sync worker' });
  });

  it('still fails a grant (nothing to enforce urgently, and the caller must know)', async () => {
    // Arrange
    await consent.service.apply('e-denied-grant', { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor('e-denied-grant'));
    faults.arm({ match: (c) => c.service === 'steward-kms' && c.command === 'PutKeyPolicyCommand', error: () => serviceError('AccessDeniedException', 400) });

    // Act + Assert: the steward answers `internal` (its log has the AccessDenied), which the consent
    // function turns into a 500 without passing KMS's text on.
    await expect(consent.service.apply('e-denied-grant', { type: 'grant', scopes: ['clicks', 'keystrokes'], ...NOTICE }, employeeActor('e-denied-grant'))).rejects.toMatchObject({ name: 'StewardFailedError', message: 'the key steward failed: internal' });
    faults.clear();
  });
});

describe('KMS failing ScheduleKeyDeletion after the purge disabled the key', () => {
  const { captures } = LOCAL_RESOURCES.buckets;
  const objectsOf = async (employeeId: string) =>
    (await t.s3('admin').send(new ListObjectsV2Command({ Bucket: captures, Prefix: `captures/${employeeId}/` }))).KeyCount ?? 0;
  const keyState = async (keyArn: string) => (await t.kms('purge').send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata;

  /** An erase recorded and its shredded policy on the key, as the consent function leaves them; the job is ours to deliver. */
  async function eraseRequested(employeeId: string): Promise<ConsentEvent> {
    const granted = await consent.service.apply(employeeId, { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor(employeeId));
    const at = new Date().toISOString();
    const sequence = granted.sequence + 1;
    const event: ConsentEvent = { employeeId, sequence, kind: 'erase-requested', at, actor: employeeActor(employeeId), state: { ...granted, status: 'purging', scopes: [], sequence, updatedAt: at } };
    await consent.ledger.append(event);
    await consent.steward.applyPolicy(granted.keyArn ?? '', event.state);
    return event;
  }

  it('leaves the key disabled and records nothing; the redelivered job schedules the deletion, then records `purged`', async () => {
    // Arrange
    const erase = await eraseRequested('e-shred-fault');
    const keyArn = erase.state.keyArn ?? '';
    for (let n = 0; n < 3; n += 1) {
      await t.s3('admin').send(new PutObjectCommand({ Bucket: captures, Key: `captures/e-shred-fault/clicks/2026/11/26/b-${n}`, Body: 'ciphertext' }));
    }
    faults.arm({ match: (c) => c.service === 'purge-kms' && c.command === 'ScheduleKeyDeletionCommand', error: () => serviceError('KMSInternalException', 500) });
    const job = { employeeId: 'e-shred-fault', sequence: erase.sequence };

    // Act 1: the first delivery fails at ScheduleKeyDeletion.
    const first = await purge.run(job).then(() => 'done', (e: Error) => e.name);
    const afterFailure = { key: await keyState(keyArn), latest: await consent.ledger.latestEvent('e-shred-fault'), objects: await objectsOf('e-shred-fault') };

    // Act 2: SQS delivers the job again.
    const second = await purge.run(job);

    // Assert: the data was unreadable from the first delivery on (the key disabled), and the
    // purge was recorded only by the delivery whose ScheduleKeyDeletion succeeded.
    expect(faults.pending()).toBe(0);
    expect(first).toBe('KMSInternalException');
    expect(afterFailure.key).toMatchObject({ KeyState: 'Disabled', Enabled: false });
    expect(afterFailure.latest?.kind).toBe('erase-requested');
    expect(afterFailure.objects).toBe(3);
    expect(second).toBe('purged');
    const key = await keyState(keyArn);
    expect(key?.KeyState).toBe('PendingDeletion');
    const events = await consent.ledger.events('e-shred-fault');
    expect(events.map((e) => [e.sequence, e.kind])).toEqual([
      [1, 'granted'],
      [2, 'erase-requested'],
      [3, 'purged'],
    ]);
    expect(events[2]?.details).toMatchObject({ objectsDeleted: { captures: 3, exports: 0 }, keyDeletionDate: key?.DeletionDate?.toISOString() });
    expect(await objectsOf('e-shred-fault')).toBe(0);
    const purgeRole = t.stack.identity.principals.purge.arn;
    const shredding = t
      .trail()
      .filter((r) => r.resources.some((res) => res.ARN === keyArn) && ['DisableKey', 'ScheduleKeyDeletion'].includes(r.eventName))
      .map((r) => [r.eventName, r.userIdentity.sessionContext?.sessionIssuer.arn, r.errorCode]);
    expect(shredding).toEqual([
      ['DisableKey', purgeRole, undefined],
      ['ScheduleKeyDeletion', purgeRole, undefined],
    ]);
  });
});
