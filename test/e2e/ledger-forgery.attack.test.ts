// Attacks by a writer of the ledger table (anyone with dynamodb:PutItem on it: the consent and
// purge roles, or an administrator) on consent judged at event time. The windows on the newest
// ledger event are a summary of the history, which one item cannot prove; ingest also needs an
// event's ts inside the windows the key steward sealed in the key's description when it applied
// each change (lambdas/shared/sealed-windows.ts), which no ledger writer can change.
import { GetKeyPolicyCommand } from '@aws-sdk/client-kms';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsentWindows } from '../../lambdas/shared/consent-windows.js';
import { eventSortKey } from '../../lambdas/shared/ledger.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { newBatchId } from '../support/capture-batches.js';
import { grantPauseResumeAt, NOTICE, startTestStack, type ConsentTestStack as TestStack } from '../support/consent-api.js';
import { employeeActor, inProcessConsent } from '../support/in-process-services.js';

const MINUTE = 60_000;

let t: TestStack;
beforeAll(async () => {
  // No background writer of keys: these tests run consent changes in-process on a clock minutes
  // behind the stack's, and policy-watch, seeing a policy lag behind a newer event (or a stale
  // steward write, below), would have key-sync re-apply it on the real clock under the test.
  const acknowledge = { entry: 'test/fixtures/queue-handler.ts' };
  t = await startTestStack({ functions: { 'policy-watch': acknowledge, 'key-sync': acknowledge } });
}, 60_000);
afterAll(async () => {
  await t.close();
});

async function consent(employeeId: string, path: string, body: Record<string, unknown> = {}): Promise<void> {
  const response = await t.call('POST', path, { token: await t.token(employeeId, 'consent:manage'), body });
  expect(response.status, `${path} for ${employeeId}`).toBe(200);
}

/** Appends, as the administrator, a valid-looking `scopes-changed` event on top, carrying `windows`. */
async function forgeNewest(employeeId: string, windows: ConsentWindows): Promise<void> {
  const newest = (await t.ledger.events(employeeId)).at(-1);
  if (newest === undefined) throw new Error('expected a ledger event to forge on');
  const sequence = newest.sequence + 1;
  const at = new Date().toISOString();
  const forged = { ...newest, sequence, kind: 'scopes-changed', at, state: { ...newest.state, sequence, updatedAt: at, windows } };
  await t.local.documents('admin').send(new PutCommand({ TableName: LOCAL_RESOURCES.tables.ledger, Item: { pk: employeeId, sk: eventSortKey(sequence), ...forged } }));
}

async function sendClicks(employeeId: string, instants: readonly number[]) {
  return t.call('POST', '/v1/events', {
    token: await t.token(employeeId, 'capture:write'),
    body: { batchId: newBatchId(), deviceId: 'laptop-1', events: instants.map((ts) => ({ kind: 'click', ts, x: 1, y: 2, button: 'left' })) },
  });
}

describe('a ledger writer against event-time consent', () => {
  // Was a hole: ingest judged each event's ts by the windows on the newest ledger event alone, so
  // a forged newest event whose window covers an earlier pause had the agent's events dated inside
  // that pause stored, while the key (active again) let KMS allow the write.
  it('drops events dated in a real pause even when a forged newest event widens the window over it', async () => {
    // Arrange: granted, paused, resumed, as the employee did.
    const id = 'e-forged-window';
    await consent(id, '/v1/consent', { scopes: ['clicks'], ...NOTICE });
    await consent(id, '/v1/consent/pause', { minutes: 30 });
    await consent(id, '/v1/consent/resume');
    const events = await t.ledger.events(id);
    const [granted, paused, resumed] = events;
    if (granted === undefined || paused === undefined || resumed === undefined) throw new Error('expected three events');
    const forgedSequence = resumed.sequence + 1;
    const at = new Date().toISOString();
    const forged = {
      ...resumed,
      sequence: forgedSequence,
      kind: 'scopes-changed',
      at,
      state: { ...resumed.state, sequence: forgedSequence, updatedAt: at, windows: { clicks: [{ from: granted.at }] } },
    };
    await t.local.documents('admin').send(new PutCommand({ TableName: LOCAL_RESOURCES.tables.ledger, Item: { pk: id, sk: eventSortKey(forgedSequence), ...forged } }));
    const inPause = Date.parse(paused.at) + 1;

    // Act: the agent sends a click it captured during the pause.
    const response = await t.call('POST', '/v1/events', {
      token: await t.token(id, 'capture:write'),
      body: { batchId: newBatchId(), deviceId: 'laptop-1', events: [{ kind: 'click', ts: inPause, x: 1, y: 2, button: 'left' }] },
    });

    // Assert
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ stored: {}, refused: { clicks: { outsideConsent: 1 } } });
  });
});

describe('a ledger writer against the sealed windows', () => {
  it('still narrows: a forged newest event that drops a window has events in it refused', async () => {
    // Arrange
    const id = 'e-forged-narrow';
    await consent(id, '/v1/consent', { scopes: ['clicks'], ...NOTICE });
    await consent(id, '/v1/consent/pause', { minutes: 30 });
    await consent(id, '/v1/consent/resume');
    const [granted, , resumed] = await t.ledger.events(id);
    if (granted === undefined || resumed === undefined) throw new Error('expected three events');
    await forgeNewest(id, { clicks: [{ from: resumed.at }] });

    // Act
    const response = await sendClicks(id, [Date.parse(granted.at) + 1, Date.parse(resumed.at) + 1]);

    // Assert
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ stored: { clicks: 1 }, refused: { clicks: { outsideConsent: 1 } } });
  });

  it('keeps a real pause sealed when a repair applies the forged event long after the pause, and alarms', async () => {
    // Arrange: consent 20 minutes ago, paused from 19 to 15 minutes ago (the consent service and its
    // steward run in-process on that clock), then a forged event that covers the pause.
    const id = 'e-forged-repair';
    const base = Date.now() - 20 * MINUTE;
    await grantPauseResumeAt(t, id, base);
    await forgeNewest(id, { clicks: [{ from: new Date(base).toISOString() }] });

    // Act: a repair (the steward's apply, as key-sync and the consent role run it) on today's clock.
    const repair = inProcessConsent(t.local);
    let answer;
    try {
      answer = await repair.stewardService.handle({ action: 'apply', employeeId: id });
    } finally {
      repair.destroy();
    }
    const response = await sendClicks(id, [base + MINUTE / 2, base + 3 * MINUTE, base + 6 * MINUTE]);

    // Assert
    expect(answer).toMatchObject({ ok: true, action: 'apply' });
    expect(repair.alarms.raised).toContain('LedgerEventInvalid');
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ stored: { clicks: 2 }, refused: { clicks: { outsideConsent: 1 } } });
  });
});

describe('a ledger writer against the seal\'s size limit', () => {
  // Was a hole: past 8,192 characters the seal drops its oldest windows and moves `since` past
  // each; a forged newest event with 200 windows per scope far in the future, once applied (the
  // consent role may invoke the steward's apply), made `since` jump to that future, and since a
  // seal keeps its `since`, every later seal of that key refused every event, for good: the
  // employee's next real change did not bring capture back. `since` now never passes the cut.
  it('cannot make a key refuse every event for good with a forged flood of future windows', async () => {
    // Arrange: consented; then a forged newest event, applied by the steward.
    const id = 'e-forged-seal-flood';
    await consent(id, '/v1/consent', { scopes: ['clicks'], ...NOTICE });
    const year2100 = Date.parse('2100-01-01T00:00:00.000Z');
    const flood = Array.from({ length: 200 }, (_, i) => ({ from: new Date(year2100 + i * 2 * MINUTE).toISOString(), to: new Date(year2100 + (i * 2 + 1) * MINUTE).toISOString() }));
    await forgeNewest(id, { keystrokes: flood, clicks: flood, 'app-focus': flood });
    const steward = inProcessConsent(t.local);
    try {
      expect(await steward.stewardService.handle({ action: 'apply', employeeId: id })).toMatchObject({ ok: true });
    } finally {
      steward.destroy();
    }

    // Act: the employee's next real change (a pause and a resume), then a click.
    await consent(id, '/v1/consent/pause', { minutes: 30 });
    await consent(id, '/v1/consent/resume');
    const response = await sendClicks(id, [Date.now()]);

    // Assert
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ stored: { clicks: 1 } });
  });
});

describe('a ledger writer and a stale key steward against the sealed windows', () => {
  // Was a hole: the steward seals the state it read when its request began, from its clock at the
  // write. One that read the grant, then was held up (KMS throttling; a consent role invoking the
  // steward in a storm makes that) until after the employee's pause was sealed, sealed the grant's
  // open window again from its late cut on; the pause's next seal kept that as "the past", so the
  // seal covered part of the pause for good, and a forged newest event had the agent's events
  // dated in it stored. Now a seal takes the past as sealed *and* as the applied event says
  // (narrowing is safe; only widening is refused), so applying the pause again closes it.
  it('keeps a pause closed after a stale steward write reopened it, once the pause is applied again', async () => {
    // Arrange: granted 20 minutes ago, paused a minute later, resumed at +5 min (the consent service
    // and its steward on that clock).
    const id = 'e-forged-stale-steward';
    const base = Date.now() - 20 * MINUTE;
    let now = base;
    const clocked = inProcessConsent(t.local, { now: () => new Date(now) });
    try {
      const granted = await clocked.service.apply(id, { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor(id));
      now = base + MINUTE;
      await clocked.service.apply(id, { type: 'pause', until: new Date(base + 40 * MINUTE) }, employeeActor(id));
      // A steward that read the grant before the pause and whose write lands at +2 min.
      now = base + 2 * MINUTE;
      if (granted.keyArn === undefined) throw new Error('expected the grant to name a key');
      await clocked.steward.applyPolicy(granted.keyArn, granted);
      // Its convergence round (or key-sync) applies the pause again at +4 min.
      now = base + 4 * MINUTE;
      expect(await clocked.stewardService.handle({ action: 'apply', employeeId: id })).toMatchObject({ ok: true });
      now = base + 5 * MINUTE;
      await clocked.service.apply(id, { type: 'resume' }, employeeActor(id));
    } finally {
      clocked.destroy();
    }
    await forgeNewest(id, { clicks: [{ from: new Date(base).toISOString() }] });

    // Act: clicks before the pause, in it (in the stale write's reach, and after it), and after the resume.
    const response = await sendClicks(id, [base + MINUTE / 2, base + 3 * MINUTE, base + 4.5 * MINUTE, base + 6 * MINUTE]);

    // Assert
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ stored: { clicks: 2 }, refused: { clicks: { outsideConsent: 2 } } });
  });
});

describe('a ledger writer against withdrawals', () => {
  /** Consent to clicks, then a forged item put under `sk` (a ledger writer's PutItem), built from the real grant. */
  async function forgeAbove(id: string, sk: string, forge: (granted: Record<string, unknown> & { state: Record<string, unknown> }) => Record<string, unknown>): Promise<void> {
    await consent(id, '/v1/consent', { scopes: ['clicks'], ...NOTICE });
    const [granted] = await t.ledger.events(id);
    if (granted === undefined) throw new Error('expected the grant');
    await t.local.documents('admin').send(new PutCommand({ TableName: LOCAL_RESOURCES.tables.ledger, Item: { ...forge({ ...granted, state: { ...granted.state } }), pk: id, sk } }));
  }

  async function click(id: string): Promise<number> {
    const response = await t.call('POST', '/v1/events', {
      token: await t.token(id, 'capture:write'),
      body: { batchId: newBatchId(), deviceId: 'laptop-1', events: [{ kind: 'click', ts: Date.now(), x: 1, y: 2, button: 'left' }] },
    });
    return response.status;
  }

  it('cannot hide a revoke below an event forged at the last sequence the sort key holds', async () => {
    // Arrange: a valid-looking grant at sequence 9,999,999,999; the next append would need 11 digits
    // and sort below it.
    const id = 'e-forged-max-sequence';
    const last = 9_999_999_999;
    await forgeAbove(id, eventSortKey(last), (granted) => ({ ...granted, sequence: last, state: { ...granted.state, sequence: last } }));

    // Act
    const revoked = await t.call('POST', '/v1/consent/revoke', { token: await t.token(id, 'consent:manage'), body: { erase: false } });
    const again = await t.call('POST', '/v1/consent/revoke', { token: await t.token(id, 'consent:manage'), body: { erase: false } });
    const offboarded = await t.call('POST', `/v1/employees/${id}/offboard`, { token: await t.token('hr-forgery', 'capture:offboard') });

    // Assert: every withdrawal is recorded, and nothing is stored after the first.
    expect([revoked.status, again.status, offboarded.status]).toEqual([200, 200, 202]);
    expect(await click(id)).not.toBe(202);
    expect(['purging', 'purged']).toContain((await t.ledger.head(id)).newestValid?.state.status);
  });

  // Was a hole: a sort key was read as a sequence if its digits were 1 to 10 long, so `event#1`
  // (which sorts above every real, zero-padded key) made the head's sequence 1: every withdrawal
  // then tried sequence 2, taken, and answered 409 after its retries.
  it('cannot block a revoke with an item under an unpadded sort key', async () => {
    // Arrange
    const id = 'e-forged-unpadded-key';
    await consent(id, '/v1/consent', { scopes: ['clicks'], ...NOTICE });
    await consent(id, '/v1/consent/pause', { minutes: 30 });
    await t.local.documents('admin').send(new PutCommand({ TableName: LOCAL_RESOURCES.tables.ledger, Item: { pk: id, sk: 'event#1', junk: true } }));

    // Act
    const revoked = await t.call('POST', '/v1/consent/revoke', { token: await t.token(id, 'consent:manage'), body: { erase: false } });

    // Assert
    expect(revoked.status).toBe(200);
    expect((await t.ledger.head(id)).newestValid?.state.status).toBe('revoked');
  });

  // Was a hole: `event#999999999` (nine digits, below the bound) sorts above every real key and
  // above `event#1000000000`, where the revoke then landed: the revoke answered 200, but the
  // forged grant stayed the newest event (ingest stored, the steward applied it) and every later
  // withdrawal answered 409.
  it('cannot hide a revoke below a valid-looking event under an unpadded sort key', async () => {
    // Arrange
    const id = 'e-forged-unpadded-grant';
    const forged = 999_999_999;
    await forgeAbove(id, `event#${forged}`, (granted) => ({ ...granted, sequence: forged, state: { ...granted.state, sequence: forged } }));

    // Act
    const revoked = await t.call('POST', '/v1/consent/revoke', { token: await t.token(id, 'consent:manage'), body: { erase: false } });
    const again = await t.call('POST', '/v1/consent/revoke', { token: await t.token(id, 'consent:manage'), body: { erase: false } });

    // Assert
    expect([revoked.status, again.status]).toEqual([200, 200]);
    expect(await click(id)).not.toBe(202);
  });

  // Was a hole: the head read the 50 highest items only, so 50 items above the real events whose
  // keys are no sequence left it with sequence 0: every withdrawal tried sequence 1 and got 409.
  it('cannot block a revoke with fifty items whose sort keys are no sequence', async () => {
    // Arrange
    const id = 'e-forged-fifty-keys';
    await forgeAbove(id, 'event#zzz00', () => ({ junk: true }));
    const admin = t.local.documents('admin');
    for (let i = 1; i < 50; i++) {
      await admin.send(new PutCommand({ TableName: LOCAL_RESOURCES.tables.ledger, Item: { pk: id, sk: `event#zzz${String(i).padStart(2, '0')}`, junk: true } }));
    }

    // Act
    const revoked = await t.call('POST', '/v1/consent/revoke', { token: await t.token(id, 'consent:manage'), body: { erase: false } });

    // Assert
    expect(revoked.status).toBe(200);
    expect((await t.ledger.head(id)).newestValid?.state.status).toBe('revoked');
  });

  // Was a hole: with 50 invalid events on top, the head found no valid event among the 50 it read,
  // so the revoke was restated from "no consent": recorded without the key, so the steward wrote
  // no policy, and the key kept allowing capture and every grant on it (training grants included).
  it('cannot leave the key capturing with fifty invalid events on top of the grant', async () => {
    // Arrange
    const id = 'e-forged-fifty-events';
    await forgeAbove(id, eventSortKey(2), () => ({ junk: true }));
    const admin = t.local.documents('admin');
    for (let sequence = 3; sequence <= 51; sequence++) {
      await admin.send(new PutCommand({ TableName: LOCAL_RESOURCES.tables.ledger, Item: { pk: id, sk: eventSortKey(sequence), junk: true } }));
    }
    const grant = await t.ledger.eventAt(id, 1);
    if (grant?.valid !== true || grant.event.state.keyArn === undefined) throw new Error('expected the grant with its key');

    // Act
    const revoked = await t.call('POST', '/v1/consent/revoke', { token: await t.token(id, 'consent:manage'), body: { erase: false } });

    // Assert: recorded with the key, and the key no longer allows capture.
    expect(revoked.status).toBe(200);
    const head = await t.ledger.head(id);
    expect(head.newestValid?.state).toMatchObject({ status: 'revoked', keyArn: grant.event.state.keyArn });
    const policy = JSON.parse((await t.kms('auditor').send(new GetKeyPolicyCommand({ KeyId: grant.event.state.keyArn, PolicyName: 'default' }))).Policy ?? '{}') as { Statement: { Sid: string }[] };
    expect(policy.Statement.map((s) => s.Sid)).not.toContain('CaptureWhileConsented');
  });

  /** The Sids of the key's policy as the auditor reads it. */
  async function policySids(keyArn: string): Promise<string[]> {
    const policy = JSON.parse((await t.kms('auditor').send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }))).Policy ?? '{}') as { Statement: { Sid: string }[] };
    return policy.Statement.map((s) => s.Sid);
  }

  async function grantedKey(id: string): Promise<string> {
    const grant = await t.ledger.eventAt(id, 1);
    if (grant?.valid !== true || grant.event.state.keyArn === undefined) throw new Error('expected the grant with its key');
    return grant.event.state.keyArn;
  }

  // OPEN HOLE (docs/architecture.md, Known gaps, "A forged event at the sequence bound"): a
  // valid-looking grant forged at sequence 10^9 (the last plausible one) takes the revoke to
  // 10^9 + 1, which every reader takes as invalid: the forged grant stays the newest valid event,
  // so the steward never writes the revoked policy, and the next withdrawal answers 409. Any bound
  // has a last plausible sequence, so no bound closes it; the fix is the per-event MAC.
  it.fails('cannot block a revoke with a valid-looking event at sequence 10^9', async () => {
    // Arrange
    const id = 'e-forged-at-bound';
    const bound = 1_000_000_000;
    await forgeAbove(id, eventSortKey(bound), (granted) => ({ ...granted, sequence: bound, state: { ...granted.state, sequence: bound } }));

    // Act
    const revoked = await t.call('POST', '/v1/consent/revoke', { token: await t.token(id, 'consent:manage'), body: { erase: false } });
    const again = await t.call('POST', '/v1/consent/revoke', { token: await t.token(id, 'consent:manage'), body: { erase: false } });

    // Assert
    expect([revoked.status, again.status]).toEqual([200, 200]);
    expect(await policySids(await grantedKey(id))).not.toContain('CaptureWhileConsented');
  });

  // Was a hole: the revoke was recorded below a junk item that sorts above every real key, and
  // the steward, which acts on nothing while the newest item is invalid, never wrote its policy:
  // KMS kept allowing capture and every grant on the key (training grants included) stayed.
  it('has the steward enforce a revoke recorded below a junk item', async () => {
    // Arrange
    const id = 'e-forged-junk-enforced';
    await forgeAbove(id, 'event#zzz', () => ({ junk: true }));

    // Act
    const revoked = await t.call('POST', '/v1/consent/revoke', { token: await t.token(id, 'consent:manage'), body: { erase: false } });

    // Assert
    expect(revoked.status).toBe(200);
    expect(await policySids(await grantedKey(id))).not.toContain('CaptureWhileConsented');
  });

  it('cannot block a revoke or an offboarding with an item whose sort key is no sequence', async () => {
    // Arrange: `event#zzz` sorts above every real event.
    const id = 'e-forged-sort-key';
    await forgeAbove(id, 'event#zzz', () => ({ junk: true }));

    // Act
    const revoked = await t.call('POST', '/v1/consent/revoke', { token: await t.token(id, 'consent:manage'), body: { erase: false } });
    const offboarded = await t.call('POST', `/v1/employees/${id}/offboard`, { token: await t.token('hr-forgery', 'capture:offboard') });

    // Assert
    expect([revoked.status, offboarded.status]).toEqual([200, 202]);
    expect(['purging', 'purged']).toContain((await t.ledger.head(id)).newestValid?.state.status);
    expect(await click(id)).not.toBe(202);
  });
});

