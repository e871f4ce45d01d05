// Who may do what through the consent API: tokens, scopes, and one employee against another.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateIssuer } from '../../local/issuer.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NOTICE, startTestStack, type ConsentTestStack as TestStack } from '../support/consent-api.js';

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
  await t.call('POST', '/v1/consent', { token: await t.token('e-alice', 'consent:manage'), body: { scopes: ['clicks'], ...NOTICE } });
  await t.call('POST', '/v1/consent', { token: await t.token('e-bob', 'consent:manage'), body: { scopes: ['keystrokes', 'clicks'], ...NOTICE } });
}, 60_000);
afterAll(async () => {
  await t.close();
});

const bobEvents = async () => (await t.ledger.events('e-bob')).length;

describe("employee A against employee B's consent", () => {
  it("reads only A's own state", async () => {
    const response = await t.call('GET', '/v1/consent', { token: await t.token('e-alice', 'consent:manage') });

    expect(response.body).toMatchObject({ employeeId: 'e-alice', scopes: ['clicks'] });
  });

  it('cannot name B in a body: the employee id is never a body field', async () => {
    const before = await bobEvents();
    const token = await t.token('e-alice', 'consent:manage');

    const attempts = await Promise.all([
      t.call('POST', '/v1/consent/pause', { token, body: { minutes: 30, employeeId: 'e-bob' } }),
      t.call('POST', '/v1/consent/revoke', { token, body: { erase: true, employeeId: 'e-bob' } }),
      t.call('POST', '/v1/consent', { token, body: { scopes: ['clicks'], ...NOTICE, employeeId: 'e-bob' } }),
    ]);

    expect(attempts.map((r) => r.status)).toEqual([400, 400, 400]);
    expect(await bobEvents()).toBe(before);
  });

  it("cannot offboard B with an employee's token", async () => {
    const response = await t.call('POST', '/v1/employees/e-bob/offboard', { token: await t.token('e-alice', 'consent:manage') });

    expect(response.status).toBe(403);
    expect((await t.ledger.latestEvent('e-bob'))?.state.status).toBe('active');
  });

  it("cannot read B's history through a query string or path trick", async () => {
    const token = await t.token('e-alice', 'consent:manage');

    const viaQuery = await t.call('GET', '/v1/consent/history?employeeId=e-bob', { token });
    const viaPath = await t.call('GET', '/v1/consent/history/../../v1/employees/e-bob', { token });

    const events = viaQuery.body['events'] as unknown[];
    expect(viaQuery.status).toBe(200);
    expect(JSON.stringify(events)).not.toContain('e-bob');
    expect([403, 404]).toContain(viaPath.status);
  });

  it("changes only A's ledger when A pauses", async () => {
    const before = await bobEvents();

    await t.call('POST', '/v1/consent/pause', { token: await t.token('e-alice', 'consent:manage'), body: { minutes: 5 } });

    expect(await bobEvents()).toBe(before);
    expect((await t.ledger.latestEvent('e-alice'))?.state.status).toBe('paused');
  });
});

describe('scopes', () => {
  it('lets a capture:write token read consent (agents poll it) but change nothing', async () => {
    const token = await t.token('e-bob', 'capture:write');
    const before = await bobEvents();

    const read = await t.call('GET', '/v1/consent', { token });
    const writes = await Promise.all([
      t.call('POST', '/v1/consent', { token, body: { scopes: ['clicks'], ...NOTICE } }),
      t.call('POST', '/v1/consent/pause', { token, body: { minutes: 5 } }),
      t.call('POST', '/v1/consent/resume', { token }),
      t.call('POST', '/v1/consent/revoke', { token, body: { erase: false } }),
      t.call('GET', '/v1/consent/history', { token }),
    ]);

    expect(read.status).toBe(200);
    expect(writes.map((r) => r.status)).toEqual([403, 403, 403, 403, 403]);
    expect(writes.every((r) => r.body.error === 'forbidden')).toBe(true);
    expect(await bobEvents()).toBe(before);
  });

  it('lets a capture:offboard token erase but never grant or pause', async () => {
    const token = await t.token('e-carol', 'capture:offboard');

    const grant = await t.call('POST', '/v1/consent', { token, body: { scopes: ['clicks'], ...NOTICE } });
    const pause = await t.call('POST', '/v1/consent/pause', { token, body: { minutes: 5 } });

    expect([grant.status, pause.status]).toEqual([403, 403]);
    expect(await t.ledger.latestEvent('e-carol')).toBeUndefined();
  });

  it('refuses a token with no scope at all', async () => {
    const response = await t.call('GET', '/v1/consent', { token: await t.token('e-bob', '') });

    expect(response.status).toBe(403);
  });
});

describe('tokens', () => {
  it('answers 401 without a token', async () => {
    const response = await t.call('GET', '/v1/consent');

    expect(response.status).toBe(401);
    expect(response.body.error).toBe('unauthorized');
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('answers 401 to an expired token', async () => {
    expect((await t.call('GET', '/v1/consent', { token: await t.token('e-bob', 'consent:manage', -60) })).status).toBe(401);
  });

  it('answers 401 to a token signed by another key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-foreign-'));
    try {
      const foreign = await loadOrCreateIssuer(dir);
      const token = await foreign.mint({ subject: 'e-bob', scope: 'consent:manage' });

      expect((await t.call('GET', '/v1/consent', { token })).status).toBe(401);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers 401 to a token for another audience or from another issuer', async () => {
    const wrongAudience = await t.stack.issuer.mint({ subject: 'e-bob', scope: 'consent:manage', audience: 'another-app' });
    const wrongIssuer = await t.stack.issuer.mint({ subject: 'e-bob', scope: 'consent:manage', issuer: 'https://evil.example/' });

    expect((await t.call('GET', '/v1/consent', { token: wrongAudience })).status).toBe(401);
    expect((await t.call('GET', '/v1/consent', { token: wrongIssuer })).status).toBe(401);
  });

  it('answers 401 to a token whose payload was edited after signing', async () => {
    const [header, , signature] = (await t.token('e-alice', 'consent:manage')).split('.');
    const payload = Buffer.from(JSON.stringify({ sub: 'e-bob', scope: 'consent:manage capture:offboard' })).toString('base64url');

    expect((await t.call('GET', '/v1/consent', { token: `${header}.${payload}.${signature}` })).status).toBe(401);
  });

  it('answers 403 to a token whose subject is not a pseudonymous id', async () => {
    const response = await t.call('GET', '/v1/consent', { token: await t.token('alice@example.com', 'consent:manage') });

    expect(response.status).toBe(403);
    expect(response.body.error).toBe('invalid-employee-id');
  });
});

describe("an HR caller's subject", () => {
  // A corporate IdP gives HR people and systems a sub of its own: an email, not an employee id.
  const HR_SUBJECT = 'hr.admin@corp.example';

  it('may be any printable id on the offboard route, and the offboarded event names that caller', async () => {
    await t.call('POST', '/v1/consent', { token: await t.token('e-1', 'consent:manage'), body: { scopes: ['clicks'], ...NOTICE } });

    const response = await t.call('POST', '/v1/employees/e-1/offboard', { token: await t.token(HR_SUBJECT, 'capture:offboard') });

    expect(response.status).toBe(202);
    const offboarded = (await t.ledger.events('e-1')).find((e) => e.kind === 'offboarded');
    expect(offboarded?.actor).toEqual({ kind: 'hr', issuer: t.stack.issuer.issuer, subject: HR_SUBJECT, jti: expect.any(String), iat: expect.any(Number), tokenSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('is refused with 403 invalid-subject on the offboard route when it is not printable', async () => {
    const before = await bobEvents();

    const response = await t.call('POST', '/v1/employees/e-bob/offboard', { token: await t.token('hr admin', 'capture:offboard') });

    expect(response.status).toBe(403);
    expect(response.body.error).toBe('invalid-subject');
    expect(await bobEvents()).toBe(before);
  });

  it('is not an employee: with employee scopes it still gets 403 invalid-employee-id on every employee route', async () => {
    const token = await t.token(HR_SUBJECT, 'consent:manage capture:write capture:offboard');

    const answers = await Promise.all([
      t.call('GET', '/v1/consent', { token }),
      t.call('POST', '/v1/consent', { token, body: { scopes: ['clicks'], ...NOTICE } }),
      t.call('POST', '/v1/consent/pause', { token, body: { minutes: 5 } }),
      t.call('POST', '/v1/consent/revoke', { token, body: { erase: true } }),
      t.call('GET', '/v1/consent/history', { token }),
      t.call('POST', '/v1/events', { token, body: { batchId: 'b-1', deviceId: 'd-1', events: [{ kind: 'click', ts: Date.now(), x: 1, y: 1, button: 'left' }] } }),
    ]);

    expect(answers.map((r) => [r.status, r.body.error])).toEqual(Array.from({ length: 6 }, () => [403, 'invalid-employee-id']));
    expect(await t.ledger.latestEvent(HR_SUBJECT)).toBeUndefined();
  });
});

