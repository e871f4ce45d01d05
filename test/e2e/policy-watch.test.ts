// A compromised key writer (the steward role's credentials in other hands) rewrites an employee's
// key policy. The local trail's PutKeyPolicy record reaches policy-watch (the dispatcher plays the
// EventBridge rule), which alarms (KeyPolicyDrift) and queues a key-sync job that puts the
// ledger's policy back; the repair's own PutKeyPolicy is then found expected, so nothing loops.
// A correct write, and an administrator's refused one, raise nothing.
import { GetKeyPolicyCommand, PutKeyPolicyCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samePolicy } from '../../lambdas/shared/key-adoption.js';
import { buildKeyPolicy, type KeyPolicyDocument } from '../../lambdas/shared/key-policy.js';
import type { ConsentState } from '../../lambdas/shared/consent-state.js';
import { localQueueName } from '../../local/resource-names.js';
import { NOTICE, startTestStack, type ConsentTestStack } from '../support/consent-api.js';
import { pollUntil } from '../support/local-stack.js';

let t: ConsentTestStack;
beforeAll(async () => {
  t = await startTestStack();
}, 60_000);
afterAll(async () => {
  await t.close();
});

interface Check {
  readonly eventId?: string;
  readonly outcome?: string;
  readonly repairQueued?: boolean;
}

/** policy-watch's verdict lines. */
function checks(): Check[] {
  return t.local
    .logs('policy-watch')
    .filter((line) => line.includes('key policy write checked'))
    .map((line) => JSON.parse(line) as Check);
}

function driftAlarms(): number {
  return t.local.logs('policy-watch').filter((line) => line.includes('"_aws"') && line.includes('"KeyPolicyDrift"')).length;
}

/** An employee who consented to keystrokes, with the state their key policy must follow. */
async function consentedEmployee(employeeId: string): Promise<{ keyArn: string; state: ConsentState }> {
  const response = await t.call('POST', '/v1/consent', { token: await t.token(employeeId, 'consent:manage'), body: { scopes: ['keystrokes'], ...NOTICE } });
  expect(response.status).toBe(200);
  const latest = await t.ledger.latestEvent(employeeId);
  const keyArn = latest?.state.keyArn;
  if (latest === undefined || keyArn === undefined) throw new Error(`no key recorded for ${employeeId}`);
  // Every write so far (the steward's own) is checked before the test writes.
  await settled(keyArn);
  return { keyArn, state: latest.state };
}

/** The PutKeyPolicy records of a key, oldest first. */
function writesOf(keyArn: string) {
  return t.local.trail().filter((r) => r.eventName === 'PutKeyPolicy' && r.resources.some((res) => res.ARN === keyArn));
}

/** Waits until policy-watch has judged every PutKeyPolicy of the key, and the key-sync queue is empty; returns the last verdict. */
async function settled(keyArn: string): Promise<Check> {
  return pollUntil(
    () => {
      const writes = writesOf(keyArn);
      const last = writes.at(-1);
      if (last === undefined) return false;
      const judged = checks();
      if (!writes.every((w) => judged.some((c) => c.eventId === w.eventID))) return false;
      if (t.stack.queues.stats(localQueueName('keySync')).pending + t.stack.queues.stats(localQueueName('keySync')).inFlight > 0) return false;
      // A repair's own write appears only after its job ran: look again once the queue is empty.
      if (writesOf(keyArn).length !== writes.length) return false;
      return judged.find((c) => c.eventId === last.eventID);
    },
    { timeoutMs: 15_000, what: 'policy-watch to judge every write of the key' },
  );
}

async function currentPolicy(keyArn: string): Promise<string> {
  return (await t.kms('steward').send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }))).Policy ?? '';
}

describe('a key policy written by a compromised writer', () => {
  it.each([
    [
      'adds the account root',
      (expected: KeyPolicyDocument): object => ({
        ...expected,
        Statement: [...expected.Statement, { Sid: 'Recovery', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${t.stack.identity.account}:root` }, Action: 'kms:*', Resource: '*' }],
      }),
    ],
    ['consents one scope more than the ledger', (_expected: KeyPolicyDocument, state: ConsentState): object => buildKeyPolicy({ ...state, scopes: ['keystrokes', 'clicks'] }, t.roles)],
  ])('that %s is alarmed and put back by key-sync, once', async (label, forge) => {
    // Arrange
    const employeeId = `e-drift-${label.split(' ')[0] ?? 'x'}`;
    const { keyArn, state } = await consentedEmployee(employeeId);
    const expected = buildKeyPolicy(state, t.roles);
    const alarmsBefore = driftAlarms();

    // Act: the steward role's credentials, used by someone else.
    await t.kms('steward').send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: JSON.stringify(forge(expected, state)) }));

    // Assert: alarmed, repaired, and the repair's own write is found expected (no second alarm, no second job).
    const forged = writesOf(keyArn).at(-1);
    const last = await settled(keyArn);
    const verdictOfForged = checks().find((c) => c.eventId === forged?.eventID);
    expect(verdictOfForged).toMatchObject({ outcome: 'drift', repairQueued: true });
    expect(driftAlarms()).toBe(alarmsBefore + 1);
    expect(samePolicy(await currentPolicy(keyArn), expected)).toBe(true);
    expect(last).toMatchObject({ outcome: 'expected', repairQueued: false });
    expect(last.eventId).not.toBe(forged?.eventID);
  });
});

describe('a key policy written as the ledger says', () => {
  it('raises nothing and queues nothing, even re-serialised with its statements in another order', async () => {
    // Arrange
    const { keyArn, state } = await consentedEmployee('e-drift-none');
    const expected = buildKeyPolicy(state, t.roles);
    const reordered = { ...expected, Statement: [...expected.Statement].reverse() };
    const alarmsBefore = driftAlarms();

    // Act
    await t.kms('steward').send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: JSON.stringify(reordered, null, 2) }));

    // Assert
    const last = await settled(keyArn);
    expect(last).toMatchObject({ outcome: 'expected', repairQueued: false });
    expect(driftAlarms()).toBe(alarmsBefore);
  });
});

describe('an administrator who tries to write an employee key policy', () => {
  it('is refused by KMS, and policy-watch, seeing nothing changed, raises nothing', async () => {
    // Arrange
    const { keyArn, state } = await consentedEmployee('e-drift-admin');
    const expected = buildKeyPolicy(state, t.roles);
    const alarmsBefore = driftAlarms();
    const takeover = { ...expected, Statement: [{ Sid: 'Mine', Effect: 'Allow', Principal: { AWS: t.stack.identity.principals.admin.arn }, Action: 'kms:*', Resource: '*' }] };

    // Act
    const attempt = t.kms('admin').send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: JSON.stringify(takeover), BypassPolicyLockoutSafetyCheck: true }));

    // Assert
    await expect(attempt).rejects.toMatchObject({ name: 'AccessDeniedException' });
    const last = await settled(keyArn);
    expect(last).toMatchObject({ outcome: 'denied' });
    expect(driftAlarms()).toBe(alarmsBefore);
    expect(samePolicy(await currentPolicy(keyArn), expected)).toBe(true);
  });
});
