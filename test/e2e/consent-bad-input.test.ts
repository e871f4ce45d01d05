// Bad requests to the consent API: each gets a 4xx with a clear message, none a 5xx, none a write.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOTICE, startTestStack, type ConsentTestStack as TestStack } from '../support/consent-api.js';

let t: TestStack;
let token: string;
beforeAll(async () => {
  t = await startTestStack();
  token = await t.token('e-bad', 'consent:manage');
  await t.call('POST', '/v1/consent', { token, body: { scopes: ['clicks'], ...NOTICE } });
}, 60_000);
afterAll(async () => {
  await t.close();
});

const inTwoYears = () => new Date(Date.now() + 2 * 366 * 86_400_000).toISOString();
const ago = () => new Date(Date.now() - 60_000).toISOString();

const cases: [label: string, path: string, body: { raw?: string; json?: unknown }, status: number, error: string][] = [
  ['malformed JSON', '/v1/consent', { raw: '{"scopes": [' }, 400, 'invalid-json'],
  ['a JSON array body', '/v1/consent', { json: [] }, 400, 'invalid-body'],
  ['an unknown scope', '/v1/consent', { json: { scopes: ['screenshots'], ...NOTICE } }, 400, 'invalid-body'],
  ['no scopes', '/v1/consent', { json: { scopes: [], ...NOTICE } }, 400, 'invalid-body'],
  ['a missing notice hash', '/v1/consent', { json: { scopes: ['clicks'], noticeVersion: 'v1' } }, 400, 'invalid-body'],
  ['an uppercase notice hash', '/v1/consent', { json: { scopes: ['clicks'], noticeVersion: 'v1', noticeSha256: 'A'.repeat(64) } }, 400, 'invalid-body'],
  ['a prototype-pollution key', '/v1/consent', { raw: `{"scopes":["clicks"],"noticeVersion":"v1","noticeSha256":"${'a'.repeat(64)}","__proto__":{"admin":true}}` }, 400, 'invalid-body'],
  ['a pause of 0 minutes', '/v1/consent/pause', { json: { minutes: 0 } }, 400, 'invalid-body'],
  ['a pause of 10,081 minutes', '/v1/consent/pause', { json: { minutes: 10_081 } }, 400, 'invalid-body'],
  ['a fractional pause', '/v1/consent/pause', { json: { minutes: 1.5 } }, 400, 'invalid-body'],
  ['a pause in minutes as a string', '/v1/consent/pause', { json: { minutes: '30' } }, 400, 'invalid-body'],
  ['a pause until the past', '/v1/consent/pause', { json: { until: ago() } }, 400, 'invalid-body'],
  ['a pause until two years ahead', '/v1/consent/pause', { json: { until: inTwoYears() } }, 400, 'invalid-body'],
  ['a pause until a non-date', '/v1/consent/pause', { json: { until: 'next tuesday' } }, 400, 'invalid-body'],
  ['both minutes and until', '/v1/consent/pause', { json: { minutes: 5, until: inTwoYears() } }, 400, 'invalid-body'],
  ['revoke without erase', '/v1/consent/revoke', { json: {} }, 400, 'invalid-body'],
  ['revoke with erase as a string', '/v1/consent/revoke', { json: { erase: 'true' } }, 400, 'invalid-body'],
  ['resume with a body', '/v1/consent/resume', { json: { now: true } }, 400, 'invalid-body'],
  ['an oversized body', '/v1/consent', { json: { scopes: ['clicks'], ...NOTICE, pad: 'x'.repeat(20_000) } }, 413, 'payload-too-large'],
];

describe('bad bodies', () => {
  it.each(cases)('answers %s with a clear 4xx and writes nothing', async (_label, path, body, status, error) => {
    // Arrange
    const before = (await t.ledger.events('e-bad')).length;

    // Act
    const response = await t.call('POST', path, { token, ...(body.raw !== undefined ? { rawBody: body.raw } : { body: body.json }) });

    // Assert
    expect(response.status).toBe(status);
    expect(response.body.error).toBe(error);
    expect(response.body.message).toMatch(/\w{3,}/);
    if (status === 400 && error === 'invalid-body') expect(response.body.details?.length).toBeGreaterThan(0);
    expect(JSON.stringify(response.body)).not.toMatch(/at .*\.ts:\d+|Exception|stack/);
    expect(await t.ledger.events('e-bad')).toHaveLength(before);
  });
});

describe('bad employee ids in paths', () => {
  it.each([
    ['a space', 'e%20bad'],
    ['a dot-dot', '..'],
    ['65 characters', 'e'.repeat(65)],
    ['an email address', 'bob%40example.com'],
    ['unicode', '%C3%A9mile'],
  ])('refuses to offboard an id with %s', async (_label, id) => {
    const response = await t.call('POST', `/v1/employees/${id}/offboard`, { token: await t.token('hr', 'capture:offboard') });

    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
  });
});

describe('requests the state does not allow', () => {
  it('answers 409 not-paused to resume without a pause', async () => {
    const fresh = await t.token('e-fresh', 'consent:manage');

    const response = await t.call('POST', '/v1/consent/resume', { token: fresh });

    expect(response.status).toBe(409);
    expect(response.body.error).toBe('not-paused');
  });

  it('answers 409 not-consented to a pause without consent, and records nothing', async () => {
    const fresh = await t.token('e-fresh2', 'consent:manage');

    const response = await t.call('POST', '/v1/consent/pause', { token: fresh, body: { minutes: 5 } });

    expect(response.status).toBe(409);
    expect(response.body.error).toBe('not-consented');
    expect(await t.ledger.latestEvent('e-fresh2')).toBeUndefined();
  });
});
