// The consent service and its key steward end to end (consent service → steward request → KMS →
// steward answer → HTTP error): a pause is answered only once its policy is on the key; the
// Region's key quota is a 503 key-quota-exhausted, alarmed, with nothing recorded and no retry loop;
// a denied shredded-policy write is an error that is queued and alarmed, never a success.
import { GetKeyPolicyCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyQuotaExhaustedError } from '../../lambdas/shared/errors.js';
import { errorResponse } from '../../lambdas/shared/http.js';
import { employeeActor, inProcessConsent, silentLogger, type InProcessConsent } from '../support/in-process-services.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { startTestStack, type TestStack } from '../support/local-stack.js';
import { FaultPlan, serviceError } from '../support/sdk-faults.js';

const NOTICE = { noticeVersion: 'v1', noticeSha256: 'd'.repeat(64) };
/** How long the steward's PutKeyPolicy is held: far longer than an answer and a policy read take. */
const SLOW_KMS_MS = 1_000;

let t: TestStack;
let faults: FaultPlan;
let consent: InProcessConsent;
beforeAll(async () => {
  // No background writer of keys: policy-watch would see a policy lag behind the ledger and have
  // key-sync repair it while a test looks at what the steward alone did, so both only acknowledge.
  const acknowledge = { entry: 'test/fixtures/queue-handler.ts' };
  t = await startTestStack({ functions: { 'policy-watch': acknowledge, 'key-sync': acknowledge } });
  faults = new FaultPlan();
  // As the functions build their clients (3 attempts), so the SDK's own retries are counted too.
  consent = inProcessConsent(t, { faults, maxAttempts: 3 });
}, 60_000);
afterAll(async () => {
  consent.destroy();
  await t.close();
});

async function keyPolicySids(keyArn: string): Promise<string[]> {
  const policy = await t.kms('steward').send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }));
  return (JSON.parse(policy.Policy ?? '{}') as { Statement: { Sid: string }[] }).Statement.map((s) => s.Sid);
}

describe('a pause', () => {
  it('is answered only once its policy is on the key, however slowly KMS writes it', async () => {
    // Arrange: consent, then a KMS that takes a second to write the next policy.
    const employeeId = 'e-sync-pause';
    const granted = await consent.service.apply(employeeId, { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor(employeeId));
    faults.arm({
      match: (c) => c.service === 'steward-kms' && c.command === 'PutKeyPolicyCommand',
      before: () => new Promise((resolve) => setTimeout(resolve, SLOW_KMS_MS)),
    });

    // Act
    const paused = await consent.service.apply(employeeId, { type: 'pause', until: new Date(Date.now() + 3_600_000) }, employeeActor(employeeId));
    const sidsAtAnswer = await keyPolicySids(granted.keyArn ?? '');

    // Assert: the slow write happened, and it was on the key when the answer came.
    expect(faults.pending()).toBe(0);
    expect(paused.status).toBe('paused');
    expect(sidsAtAnswer).toContain('Paused');
  });
});

describe('the key quota (LimitExceededException on CreateKey)', () => {
  it('answers a first consent 503 key-quota-exhausted without Retry-After, alarms, records nothing and does not retry beyond the SDK\'s attempts', async () => {
    // Arrange
    const employeeId = 'e-key-quota';
    const before = faults.calls.length;
    faults.arm({ match: (c) => c.service === 'steward-kms' && c.command === 'CreateKeyCommand', times: 100, error: () => serviceError('LimitExceededException', 400) });

    // Act
    const error = await consent.service.apply(employeeId, { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor(employeeId)).catch((e: unknown) => e);
    const response = errorResponse(error, silentLogger('consent'));
    faults.clear();

    // Assert
    expect(error).toBeInstanceOf(KeyQuotaExhaustedError);
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(String(response.body))).toEqual({ error: 'key-quota-exhausted', message: expect.stringContaining('operator') });
    expect(response.headers?.['retry-after']).toBeUndefined();
    expect(consent.alarms.raised).toContain('KeyQuotaExhausted');
    expect(await consent.ledger.events(employeeId)).toEqual([]);
    const calls = faults.calls.slice(before);
    // One steward request; the SDK reads the name as throttling and tries at most its 3 attempts.
    expect(calls.filter((c) => c.command === 'CreateKeyCommand').length).toBeGreaterThanOrEqual(1);
    expect(calls.filter((c) => c.command === 'CreateKeyCommand').length).toBeLessThanOrEqual(3);
    // Nothing handed to key-sync or any queue: there is no change to enforce.
    expect(calls.filter((c) => c.service === 'consent-sqs')).toEqual([]);
  });
});

describe('an erasure whose shredded policy KMS refuses (an SCP without the steward exemption)', () => {
  it('is recorded and answered, and its enforcement, not taken for done, is queued to key-sync and alarmed', async () => {
    // Arrange
    const employeeId = 'e-shred-denied';
    const granted = await consent.service.apply(employeeId, { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor(employeeId));
    const before = faults.calls.length;
    faults.arm({
      match: (c) => c.service === 'steward-kms' && c.command === 'PutKeyPolicyCommand' && c.input['BypassPolicyLockoutSafetyCheck'] === true,
      times: 100,
      error: () => serviceError('AccessDeniedException', 400),
    });

    // Act
    const erased = await consent.service.apply(employeeId, { type: 'revoke', erase: true }, employeeActor(employeeId));
    const sidsAtAnswer = await keyPolicySids(granted.keyArn ?? '');
    faults.clear();

    // Assert
    expect(erased.status).toBe('purging');
    expect((await consent.ledger.latestEvent(employeeId))?.kind).toBe('erase-requested');
    expect(consent.alarms.raised).toContain('WithdrawalEnforcementDeferred');
    const keySyncJobs = faults.calls.slice(before).filter((c) => c.service === 'consent-sqs' && String(c.input['QueueUrl']).includes(LOCAL_RESOURCES.queues.keySync));
    expect(keySyncJobs.map((c) => JSON.parse(String(c.input['MessageBody'])))).toEqual([{ employeeId, sequence: erased.sequence }]);
    expect(sidsAtAnswer).not.toContain('ShreddedReadOnly');
  });
});
