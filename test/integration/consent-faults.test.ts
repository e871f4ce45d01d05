// The consent service when KMS throttles and SQS fails: a recorded change is never answered with
// a failure it does not deserve, withdrawal is never blocked by a pending key write, and a purge
// job is never lost.
import { GetKeyPolicyCommand } from '@aws-sdk/client-kms';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { employeeActor, inProcessConsent, type InProcessConsent } from '../support/in-process-services.js';
import { pollUntil, startTestStack, type TestStack } from '../support/local-stack.js';
import { FaultPlan, serviceError } from '../support/sdk-faults.js';

const NOTICE = { noticeVersion: 'v1', noticeSha256: 'd'.repeat(64) };
let t: TestStack;
let faults: FaultPlan;
let consent: InProcessConsent;
beforeAll(async () => {
  t = await startTestStack();
  faults = new FaultPlan();
  consent = inProcessConsent(t, { faults });
}, 60_000);
afterAll(async () => {
  consent.destroy();
  await t.close();
});

const throttlePolicyWrites = (times: number) =>
  faults.arm({ match: (c) => c.service === 'consent-kms' && c.command === 'PutKeyPolicyCommand', times, error: () => serviceError('ThrottlingException', 400) });

async function keyPolicySids(keyArn: string): Promise<string[]> {
  const policy = await t.kms('consent').send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }));
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
    faults.arm({ match: (c) => c.service === 'consent-kms' && c.command === 'PutKeyPolicyCommand', times: 10, error: () => serviceError('AccessDeniedException', 400) });

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

  it('still fails a grant (nothing to enforce urgently, and the caller must know)', async () => {
    // Arrange
    await consent.service.apply('e-denied-grant', { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor('e-denied-grant'));
    faults.arm({ match: (c) => c.service === 'consent-kms' && c.command === 'PutKeyPolicyCommand', error: () => serviceError('AccessDeniedException', 400) });

    // Act + Assert
    await expect(consent.service.apply('e-denied-grant', { type: 'grant', scopes: ['clicks', 'keystrokes'], ...NOTICE }, employeeActor('e-denied-grant'))).rejects.toMatchObject({ name: 'AccessDeniedException' });
    faults.clear();
  });
});
