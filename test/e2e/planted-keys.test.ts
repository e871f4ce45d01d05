// An insider with AdministratorAccess plants keys and ledger events to capture or read an
// employee's data, or to block a withdrawal. First consent adopts only a key exactly as this
// application makes it; ingest stores only when the alias names the key the ledger records; an
// invalid ledger event is never applied, and a withdrawal is recorded on top of it.
import {
  CreateAliasCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  PutKeyPolicyCommand,
  ScheduleKeyDeletionCommand,
  UpdateAliasCommand,
  UpdateKeyDescriptionCommand,
} from '@aws-sdk/client-kms';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsentEvent } from '../../lambdas/shared/consent-state.js';
import { SCOPES } from '../../lambdas/shared/consent-model.js';
import { buildKeyPolicy } from '../../lambdas/shared/key-policy.js';
import { isInside } from '../../lambdas/shared/consent-windows.js';
import { decodeSealed, encodeSealed, sealedSpans } from '../../lambdas/shared/sealed-windows.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch } from '../support/capture-batches.js';
import { NOTICE, startTestStack, type ConsentTestStack as TestStack } from '../support/consent-api.js';
import { employeeActor, inProcessConsent } from '../support/in-process-services.js';
import { pollUntil } from '../support/local-stack.js';
import { FaultPlan, serviceError } from '../support/sdk-faults.js';

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
}, 60_000);
afterAll(async () => {
  await t.close();
});

/** A key the admin controls that also lets the ingest role generate data keys. */
const ALL_TIME_SEAL = encodeSealed({ since: 0, windows: Object.fromEntries(SCOPES.map((scope) => [scope, [{ from: 0, to: Infinity }]])) });

async function adminKey(): Promise<string> {
  const admin = t.stack.identity.principals.admin;
  const policy = {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'Admin', Effect: 'Allow', Principal: { AWS: admin.arn }, Action: 'kms:*', Resource: '*' },
      { Sid: 'LetIngestIn', Effect: 'Allow', Principal: { AWS: t.roles.ingest }, Action: ['kms:GenerateDataKey', 'kms:DescribeKey'], Resource: '*' },
      { Sid: 'LookLikeOurs', Effect: 'Allow', Principal: { AWS: t.roles.steward }, Action: ['kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:PutKeyPolicy', 'kms:ListGrants'], Resource: '*' },
    ],
  };
  const created = await t.kms('admin').send(
    // A seal that covers all time: this admin controls the key, so its description is its own to
    // write; what these tests attack is the alias and adoption (adoption resets the seal).
    new CreateKeyCommand({ Policy: JSON.stringify(policy), Description: ALL_TIME_SEAL, Tags: [{ TagKey: 'app', TagValue: 'consent-capture' }] }),
  );
  return created.KeyMetadata?.Arn ?? '';
}

/**
 * An admin key behind the employee's alias that ends with `policy` (naming only our roles, so
 * put with the lockout bypass), after `prepare` ran while the admin still controlled it.
 */
async function plantKey(employeeId: string, policy: object, prepare: (arn: string) => Promise<unknown> = async () => undefined): Promise<string> {
  const admin = t.kms('admin');
  const adminOnly = { Version: '2012-10-17', Statement: [{ Sid: 'Admin', Effect: 'Allow', Principal: { AWS: t.stack.identity.principals.admin.arn }, Action: 'kms:*', Resource: '*' }] };
  const arn = (await admin.send(new CreateKeyCommand({ Policy: JSON.stringify(adminOnly) }))).KeyMetadata?.Arn ?? '';
  await admin.send(new CreateAliasCommand({ AliasName: `alias/consent-capture/${employeeId}`, TargetKeyId: arn }));
  await prepare(arn);
  await admin.send(new PutKeyPolicyCommand({ KeyId: arn, Policy: JSON.stringify(policy), BypassPolicyLockoutSafetyCheck: true }));
  return arn;
}

/** A planted key with the very policy this application writes before first consent. */
async function keyWithOurPolicy(employeeId: string, prepare: (arn: string) => Promise<unknown>): Promise<string> {
  return plantKey(employeeId, buildKeyPolicy({ employeeId, status: 'none', scopes: [] }, t.roles), prepare);
}

/** Consent answers, what the ledger then holds, and what capture gets. */
async function firstConsent(employeeId: string) {
  const response = await t.call('POST', '/v1/consent', { token: await t.token(employeeId, 'consent:manage'), body: { scopes: ['keystrokes'], ...NOTICE } });
  const capture = await t.call('POST', '/v1/events', { token: await t.token(employeeId, 'capture:write'), body: captureBatch({ kinds: ['keystroke'] }) });
  return { response, capture, latest: await t.ledger.latestEvent(employeeId) };
}

/** Lines of the EMF metric `name` the functions published. */
function metricLines(name: string): string[] {
  return t.local.logs().filter((line) => line.includes('"_aws"') && line.includes(`"${name}"`));
}

async function objectsOf(employeeId: string): Promise<number> {
  return (await t.s3.send(new ListObjectsV2Command({ Bucket: LOCAL_RESOURCES.buckets.captures, Prefix: `captures/${employeeId}/` }))).KeyCount ?? 0;
}

describe('an admin who writes the ledger', () => {
  it('cannot make ingest encrypt under a key of theirs by naming it in a forged consent event', async () => {
    // Arrange: a forged "granted" event for someone who never consented, naming the admin's key.
    const keyArn = await adminKey();
    const at = new Date().toISOString();
    const forged: ConsentEvent = {
      employeeId: 'e-forged',
      sequence: 1,
      kind: 'granted',
      at,
      actor: { kind: 'employee', issuer: 'https://idp.example', subject: 'e-forged' },
      state: { employeeId: 'e-forged', status: 'active', scopes: ['keystrokes', 'clicks', 'app-focus'], keyArn, sequence: 1, updatedAt: at },
    };
    await t.ledger.append(forged);

    // Act
    const response = await t.call('POST', '/v1/events', { token: await t.token('e-forged', 'capture:write'), body: captureBatch() });

    // Assert: the alias does not name the recorded key (there is none), so ingest refuses, alarmed.
    expect(response.status).toBe(503);
    expect(response.body.error).toBe('consent-state-unavailable');
    expect(await objectsOf('e-forged')).toBe(0);
  });

  it('cannot redirect a consented employee: pointing keyArn at another key makes ingest refuse, storing nothing', async () => {
    // Arrange: e-redirect consents; the admin appends an event that copies the state with their key.
    await t.call('POST', '/v1/consent', { token: await t.token('e-redirect', 'consent:manage'), body: { scopes: ['clicks'], ...NOTICE } });
    const real = await t.ledger.latestEvent('e-redirect');
    if (real === undefined) throw new Error('no consent recorded');
    const keyArn = await adminKey();
    const at = new Date().toISOString();
    const sequence = real.sequence + 1;
    await t.ledger.append({ ...real, sequence, kind: 'scopes-changed', at, state: { ...real.state, keyArn, sequence, updatedAt: at } });
    const alarmsBefore = metricLines('KeyMismatch').length;

    // Act
    const response = await t.call('POST', '/v1/events', { token: await t.token('e-redirect', 'capture:write'), body: captureBatch({ kinds: ['click'] }) });

    // Assert: 503, not 403: the employee did consent; the agent keeps the batch and an operator is alarmed.
    expect(response.status).toBe(503);
    expect(response.body.error).toBe('consent-state-unavailable');
    expect(await objectsOf('e-redirect')).toBe(0);
    expect(metricLines('KeyMismatch').length).toBeGreaterThan(alarmsBefore);
  });
});

describe('an alias mover', () => {
  it('makes ingest refuse, never encrypt under the key the alias now names', async () => {
    // Arrange: keys A and B both let ingest in and let the admin move aliases; the ledger records A.
    const keyA = await adminKey();
    const keyB = await adminKey();
    await t.kms('admin').send(new CreateAliasCommand({ AliasName: 'alias/consent-capture/e-moved', TargetKeyId: keyA }));
    const at = new Date().toISOString();
    await t.ledger.append({
      employeeId: 'e-moved',
      sequence: 1,
      kind: 'granted',
      at,
      actor: { kind: 'employee', issuer: 'https://idp.example', subject: 'e-moved' },
      state: { employeeId: 'e-moved', status: 'active', scopes: ['clicks'], keyArn: keyA, sequence: 1, updatedAt: at },
    });
    const batch = () => captureBatch({ kinds: ['click'] });
    const before = await t.call('POST', '/v1/events', { token: await t.token('e-moved', 'capture:write'), body: batch() });

    // Act
    await t.kms('admin').send(new UpdateAliasCommand({ AliasName: 'alias/consent-capture/e-moved', TargetKeyId: keyB }));
    const after = await t.call('POST', '/v1/events', { token: await t.token('e-moved', 'capture:write'), body: batch() });

    // Assert: the check itself lets an agreeing pair through, and refuses once they disagree.
    expect(before.status).toBe(202);
    expect(after.status).toBe(503);
    expect(await objectsOf('e-moved')).toBe(1);
  });
});

describe('an admin who plants an alias before first consent', () => {
  it('is refused: consent answers 409 key-conflict and records nothing, so nothing is ever captured', async () => {
    // Arrange: the admin's key behind the employee's alias, with a Decrypt grant for the admin.
    const keyArn = await adminKey();
    await t.kms('admin').send(new CreateAliasCommand({ AliasName: 'alias/consent-capture/e-target', TargetKeyId: keyArn }));
    await t.kms('admin').send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: t.stack.identity.principals.admin.arn, Operations: ['Decrypt'] }));

    // Act
    const response = await t.call('POST', '/v1/consent', { token: await t.token('e-target', 'consent:manage'), body: { scopes: ['keystrokes'], ...NOTICE } });
    const capture = await t.call('POST', '/v1/events', { token: await t.token('e-target', 'capture:write'), body: captureBatch({ kinds: ['keystroke'] }) });

    // Assert
    expect(response.status).toBe(409);
    expect(response.body.error).toBe('key-conflict');
    expect(await t.ledger.latestEvent('e-target')).toBeUndefined();
    expect(capture.status).toBe(403);
    expect(await objectsOf('e-target')).toBe(0);
  });
});

describe('a key planted before first consent that names only our roles', () => {
  it('is refused when its policy lets ingest generate data keys unconditioned and export decrypt: 409, alarmed, nothing recorded', async () => {
    // Arrange: the review's planted policy: only our roles, but far wider powers than ours.
    const permissive = {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'KeyStewardship', Effect: 'Allow', Principal: { AWS: t.roles.steward }, Action: ['kms:PutKeyPolicy', 'kms:GetKeyPolicy', 'kms:DescribeKey', 'kms:ListGrants', 'kms:GetKeyRotationStatus', 'kms:EnableKeyRotation'], Resource: '*' },
        { Sid: 'Capture', Effect: 'Allow', Principal: { AWS: t.roles.ingest }, Action: ['kms:GenerateDataKey', 'kms:DescribeKey'], Resource: '*' },
        { Sid: 'Export', Effect: 'Allow', Principal: { AWS: t.roles.export }, Action: 'kms:Decrypt', Resource: '*' },
      ],
    };
    const arn = await plantKey('e-permissive', permissive);
    expect((await t.kms('steward').send(new DescribeKeyCommand({ KeyId: 'alias/consent-capture/e-permissive' }))).KeyMetadata?.Arn).toBe(arn);
    const alarmsBefore = metricLines('KeyConflict').length;

    // Act
    const { response, capture, latest } = await firstConsent('e-permissive');
    const revoke = await t.call('POST', '/v1/consent/revoke', { token: await t.token('e-permissive', 'consent:manage'), body: { erase: false } });

    // Assert
    expect(response.status).toBe(409);
    expect(response.body.error).toBe('key-conflict');
    expect(latest).toBeUndefined();
    expect(capture.status).toBe(403);
    expect(await objectsOf('e-permissive')).toBe(0);
    expect(revoke.status).toBe(200);
    expect(metricLines('KeyConflict').length).toBeGreaterThan(alarmsBefore);
  });

  it.each<[string, (arn: string) => Promise<unknown>]>([
    ['pending deletion', (arn) => t.kms('admin').send(new ScheduleKeyDeletionCommand({ KeyId: arn, PendingWindowInDays: 7 }))],
    ['disabled', (arn) => t.kms('admin').send(new DisableKeyCommand({ KeyId: arn }))],
  ])('is refused when %s, even with exactly our policy', async (state, prepare) => {
    // Arrange
    const employeeId = `e-planted-${state.split(' ')[0] ?? ''}`;
    const arn = await keyWithOurPolicy(employeeId, prepare);

    // Act
    const { response, latest } = await firstConsent(employeeId);

    // Assert
    expect(response.status).toBe(409);
    expect(response.body.error).toBe('key-conflict');
    expect(latest).toBeUndefined();
    expect((await t.kms('steward').send(new GetKeyPolicyCommand({ KeyId: arn }))).Policy).toBe(JSON.stringify(buildKeyPolicy({ employeeId, status: 'none', scopes: [] }, t.roles)));
  });
});

describe('our own key left without rotation by a crash after CreateAlias', () => {
  it('is adopted by the next consent, which turns rotation on', async () => {
    // Arrange: EnableKeyRotation fails for good during the first consent.
    const faults = new FaultPlan();
    const consent = inProcessConsent(t.local, { faults });
    faults.arm({ match: (c) => c.command === 'EnableKeyRotationCommand', times: 5, error: () => serviceError('AccessDeniedException', 400) });
    const first = await consent.service.apply('e-rotation', { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor('e-rotation')).catch((e: Error) => e.name);
    faults.clear();

    // Act
    const second = await consent.service.apply('e-rotation', { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor('e-rotation'));
    consent.destroy();

    // Assert
    // The steward's AccessDenied comes back as its `internal` answer: a 500, no KMS text passed on.
    expect(first).toBe('StewardFailedError');
    const keyArn = second.keyArn ?? '';
    expect((await t.kms('steward').send(new DescribeKeyCommand({ KeyId: 'alias/consent-capture/e-rotation' }))).KeyMetadata?.Arn).toBe(keyArn);
    expect((await t.kms('steward').send(new GetKeyRotationStatusCommand({ KeyId: keyArn }))).KeyRotationEnabled).toBe(true);
    expect((await t.ledger.latestEvent('e-rotation'))?.state).toMatchObject({ status: 'active', keyArn });
  });
});

describe('a key planted with exactly our policy and a seal that covers the past', () => {
  it('is adopted with its seal reset: nothing before the first consent is sealed', async () => {
    // Arrange: while the admin still controls the key, it writes a seal covering all time.
    const id = 'e-planted-seal';
    const keyArn = await keyWithOurPolicy(id, (arn) => t.kms('admin').send(new UpdateKeyDescriptionCommand({ KeyId: arn, Description: ALL_TIME_SEAL })));

    // Act
    const { response, latest } = await firstConsent(id);
    const description = (await t.kms('ingest').send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.Description;

    // Assert
    expect(response.status).toBe(200);
    expect(latest?.state.keyArn).toBe(keyArn);
    const sealed = sealedSpans(decodeSealed(description));
    const granted = Date.parse(latest?.at ?? '');
    expect(isInside(sealed, 'keystrokes', granted - 60_000)).toBe(false);
    expect(isInside(sealed, 'keystrokes', granted + 1)).toBe(true);
  });
});

describe('an invalid ledger event planted on top of a consent', () => {
  /** e-id consents to clicks, then the admin appends an event with an unknown scope. */
  async function plantInvalid(employeeId: string): Promise<{ keyArn: string; invalidSequence: number }> {
    await t.call('POST', '/v1/consent', { token: await t.token(employeeId, 'consent:manage'), body: { scopes: ['clicks'], ...NOTICE } });
    const real = await t.ledger.latestEvent(employeeId);
    if (real === undefined) throw new Error('no consent recorded');
    const at = new Date().toISOString();
    const sequence = real.sequence + 1;
    const invalid = { ...real, sequence, kind: 'scopes-changed', at, state: { ...real.state, scopes: ['clicks', 'screenshots'], sequence, updatedAt: at } };
    await t.ledger.append(invalid as unknown as ConsentEvent);
    return { keyArn: real.state.keyArn ?? '', invalidSequence: sequence };
  }

  async function keySids(keyArn: string): Promise<string[]> {
    const policy = await t.kms('auditor').send(new GetKeyPolicyCommand({ KeyId: keyArn }));
    return (JSON.parse(policy.Policy ?? '{}') as { Statement: { Sid: string }[] }).Statement.map((s) => s.Sid);
  }

  it('makes ingest refuse (503) and store nothing, and is alarmed', async () => {
    // Arrange
    await plantInvalid('e-inv-ingest');
    const alarmsBefore = metricLines('LedgerEventInvalid').length;

    // Act
    const response = await t.call('POST', '/v1/events', { token: await t.token('e-inv-ingest', 'capture:write'), body: captureBatch({ kinds: ['click'] }) });

    // Assert
    expect(response.status).toBe(503);
    expect(response.body.error).toBe('consent-state-unavailable');
    expect(await objectsOf('e-inv-ingest')).toBe(0);
    expect(metricLines('LedgerEventInvalid').length).toBeGreaterThan(alarmsBefore);
  });

  it('does not block a revoke: 200, recorded on top, the key loses capture and ingest refuses', async () => {
    // Arrange
    const { keyArn, invalidSequence } = await plantInvalid('e-inv-revoke');

    // Act
    const revoke = await t.call('POST', '/v1/consent/revoke', { token: await t.token('e-inv-revoke', 'consent:manage'), body: { erase: false } });
    const capture = await t.call('POST', '/v1/events', { token: await t.token('e-inv-revoke', 'capture:write'), body: captureBatch({ kinds: ['click'] }) });

    // Assert
    expect(revoke.status).toBe(200);
    expect(await t.ledger.latestEvent('e-inv-revoke')).toMatchObject({ kind: 'revoked', sequence: invalidSequence + 1, state: { status: 'revoked', keyArn } });
    expect(await keySids(keyArn)).not.toContain('CaptureWhileConsented');
    expect(capture.status).toBe(403);
    expect(await objectsOf('e-inv-revoke')).toBe(0);
  });

  it('does not block an erase: 200, recorded, shredded and purged', async () => {
    // Arrange
    const { keyArn } = await plantInvalid('e-inv-erase');

    // Act
    const erase = await t.call('POST', '/v1/consent/revoke', { token: await t.token('e-inv-erase', 'consent:manage'), body: { erase: true } });

    // Assert
    expect(erase.status).toBe(200);
    expect(erase.body['status']).toBe('purging');
    expect(await keySids(keyArn)).toEqual(['ShreddedReadOnly', 'Shredding', 'Auditors']);
    await pollUntil(async () => (await t.ledger.latestEvent('e-inv-erase'))?.kind === 'purged', { timeoutMs: 20_000, what: 'the purge of e-inv-erase' });
  });

  it('does not block offboarding: 202, recorded, shredded', async () => {
    // Arrange
    const { keyArn } = await plantInvalid('e-inv-leaver');

    // Act
    const offboard = await t.call('POST', '/v1/employees/e-inv-leaver/offboard', { token: await t.token('hr-1', 'capture:offboard') });

    // Assert
    expect(offboard.status).toBe(202);
    expect(await t.ledger.latestEvent('e-inv-leaver')).toMatchObject({ kind: 'offboarded', state: { status: 'purging' } });
    expect(await keySids(keyArn)).not.toContain('CaptureWhileConsented');
  });

  it('refuses a grant or a pause on top of it (503): only a withdrawal goes on', async () => {
    // Arrange
    await plantInvalid('e-inv-grant');
    const token = await t.token('e-inv-grant', 'consent:manage');

    // Act
    const grant = await t.call('POST', '/v1/consent', { token, body: { scopes: ['keystrokes'], ...NOTICE } });
    const pause = await t.call('POST', '/v1/consent/pause', { token, body: { minutes: 30 } });

    // Assert
    expect([grant.status, pause.status]).toEqual([503, 503]);
    expect(grant.body.error).toBe('consent-state-unavailable');
  });
});

describe('an admin who tries to move or remove an employee alias', () => {
  it('is refused by the current key policy, so ingest keeps encrypting under the employee key', async () => {
    // Arrange
    await t.call('POST', '/v1/consent', { token: await t.token('e-alias', 'consent:manage'), body: { scopes: ['clicks'], ...NOTICE } });
    const keyArn = await adminKey();

    // Act
    const moved = await t.kms('admin').send(new UpdateAliasCommand({ AliasName: 'alias/consent-capture/e-alias', TargetKeyId: keyArn })).catch((e: Error) => e.name);
    const deleted = await t.kms('admin').send(new DeleteAliasCommand({ AliasName: 'alias/consent-capture/e-alias' })).catch((e: Error) => e.name);
    const stored = await t.call('POST', '/v1/events', { token: await t.token('e-alias', 'capture:write'), body: captureBatch({ kinds: ['click'] }) });

    // Assert
    expect([moved, deleted]).toEqual(['AccessDeniedException', 'AccessDeniedException']);
    expect(stored.status).toBe(202);
    const described = await t.kms('steward').send(new DescribeKeyCommand({ KeyId: 'alias/consent-capture/e-alias' }));
    expect(described.KeyMetadata?.Arn).toBe((await t.ledger.latestEvent('e-alias'))?.state.keyArn);
  });
});

describe('first consent refuses a planted key that differs from ours in exactly one way', () => {
  const builderPolicy = (employeeId: string) => buildKeyPolicy({ employeeId, status: 'none', scopes: [] }, t.roles);
  /** Why the consent function refused the key, from its log (the client is told only key-conflict). */
  const refusalReason = (employeeId: string): string | undefined =>
    t.local
      .logs()
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as { message?: string; employeeId?: string; why?: string }];
        } catch {
          return [];
        }
      })
      .find((entry) => entry.message === 'refused to adopt the key behind an employee alias' && entry.employeeId === employeeId)?.why;
  const withStatement = (employeeId: string, statement: Record<string, unknown>) => {
    const policy = builderPolicy(employeeId);
    return { ...policy, Statement: [...policy.Statement, statement] };
  };

  it('refuses a key that carries a grant, though its policy is exactly ours', async () => {
    // Arrange
    const admin = t.stack.identity.principals.admin.arn;
    await keyWithOurPolicy('e-plant-grant', (arn) => t.kms('admin').send(new CreateGrantCommand({ KeyId: arn, GranteePrincipal: admin, Operations: ['Decrypt'] })));

    // Act
    const { response, latest } = await firstConsent('e-plant-grant');

    // Assert
    expect(response.status).toBe(409);
    expect(response.body.error).toBe('key-conflict');
    expect(refusalReason('e-plant-grant')).toBe('it carries 1 grant(s)');
    expect(latest).toBeUndefined();
  });

  it('refuses a key whose policy is ours plus a statement for a principal that is not one of our roles', async () => {
    // Arrange
    const outsider = t.stack.identity.principals.admin.arn;
    await plantKey('e-plant-foreign', withStatement('e-plant-foreign', { Sid: 'Outsider', Effect: 'Allow', Principal: { AWS: outsider }, Action: 'kms:Decrypt', Resource: '*' }));

    // Act
    const { response, latest } = await firstConsent('e-plant-foreign');

    // Assert
    expect(response.status).toBe(409);
    expect(response.body.error).toBe('key-conflict');
    expect(refusalReason('e-plant-foreign')).toMatch(/^its key policy is not the one this application writes/);
    expect(latest).toBeUndefined();
  });

  it('refuses a key whose policy is ours plus a statement for the `*` principal', async () => {
    // Arrange: anyone in the account may decrypt.
    const account = t.stack.identity.account;
    await plantKey(
      'e-plant-star',
      withStatement('e-plant-star', { Sid: 'Anyone', Effect: 'Allow', Principal: '*', Action: 'kms:Decrypt', Resource: '*', Condition: { StringEquals: { 'aws:PrincipalAccount': account } } }),
    );

    // Act
    const { response, latest } = await firstConsent('e-plant-star');

    // Assert
    expect(response.status).toBe(409);
    expect(response.body.error).toBe('key-conflict');
    expect(refusalReason('e-plant-star')).toMatch(/^its key policy is not the one this application writes/);
    expect(latest).toBeUndefined();
  });
});
