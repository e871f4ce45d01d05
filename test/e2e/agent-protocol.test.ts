// What agents rely on, against the local stack: the OpenAPI document (served, and true of real
// answers), ETag/304 on GET /v1/consent, the employee's exclusions (recorded, returned, enforced
// again by ingest) and gzip request bodies with the size limit applied after decompression.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../contract/capture-batch.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch } from '../support/capture-batches.js';
import { NOTICE, startTestStack, type ConsentTestStack } from '../support/consent-api.js';
import type { ApiResponse } from '../support/local-stack.js';

const committed = JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8')) as OpenApi;

interface OpenApi {
  paths: Record<string, Record<string, { responses: Record<string, { content?: { 'application/json': { schema: unknown } } }> }>>;
  components: { schemas: Record<string, unknown> };
}

const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema({ $id: 'openapi', components: committed.components });

/** Validates a real answer against the committed document's schema for its path, method and status. */
function conforms(path: string, method: string, response: ApiResponse): void {
  const operation = committed.paths[path]?.[method.toLowerCase()];
  expect(operation, `${method} ${path} is documented`).toBeDefined();
  const documented = operation?.responses[String(response.status)];
  expect(documented, `${method} ${path} documents ${response.status}`).toBeDefined();
  const schema = documented?.content?.['application/json'].schema;
  if (schema === undefined) {
    expect(response.text).toBe('');
    return;
  }
  const validate = ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/')) as object);
  const ok = validate(response.json());
  expect(ok, `${method} ${path} ${response.status}: ${ajv.errorsText(validate.errors)}`).toBe(true);
}

let t: ConsentTestStack;
beforeAll(async () => {
  t = await startTestStack();
}, 60_000);
afterAll(async () => {
  await t?.close();
});

const req = (method: string, path: string, options: Parameters<ConsentTestStack['local']['request']>[2] = {}) => t.local.request(method, path, options);

async function grant(id: string, scopes: string[] = ['keystrokes', 'clicks', 'app-focus']): Promise<void> {
  const response = await req('POST', '/v1/consent', { token: await t.token(id, 'consent:manage'), body: { scopes, ...NOTICE } });
  expect(response.status).toBe(200);
}

async function objectsOf(employeeId: string): Promise<Buffer[]> {
  const listed = await t.s3.send(new ListObjectsV2Command({ Bucket: LOCAL_RESOURCES.buckets.captures, Prefix: `captures/${employeeId}/` }));
  return Promise.all(
    (listed.Contents ?? []).map(async (o) => Buffer.from(await (await t.s3.send(new GetObjectCommand({ Bucket: LOCAL_RESOURCES.buckets.captures, Key: o.Key }))).Body!.transformToByteArray())),
  );
}

describe('GET /v1/openapi.json', () => {
  it('is served without a token and is the committed docs/openapi.json', async () => {
    const response = await req('GET', '/v1/openapi.json');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.text).toBe(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8'));
  });

  it('does not open any other route without a token', async () => {
    expect((await req('GET', '/v1/consent')).status).toBe(401);
    expect((await req('POST', '/v1/openapi.json')).status).toBe(404);
  });

  it('describes the real answers of a whole agent and employee session', async () => {
    const manage = await t.token('e-oa', 'consent:manage');
    const agent = await t.token('e-oa', 'capture:write');
    const seen: [string, string, ApiResponse][] = [];
    const call = async (method: string, path: string, options: Parameters<typeof req>[2] = {}) => {
      const response = await req(method, path, options);
      seen.push([method, path, response]);
      return response;
    };
    await call('GET', '/v1/consent', { token: agent });
    await call('POST', '/v1/consent', { token: manage, body: { scopes: ['keystrokes', 'clicks'], ...NOTICE } });
    const state = await call('GET', '/v1/consent', { token: agent });
    await call('GET', '/v1/consent', { token: agent, headers: { 'if-none-match': state.headers.get('etag') ?? '' } });
    await call('PUT', '/v1/consent/exclusions', { token: manage, body: { apps: ['KeePassXC'], titlePatterns: ['*bank*'] } });
    const batch = captureBatch();
    await call('POST', '/v1/events', { token: agent, body: batch });
    await call('POST', '/v1/events', { token: agent, body: batch });
    await call('POST', '/v1/events', { token: agent, body: { ...batch, events: [] } });
    await call('POST', '/v1/events', { token: manage, body: captureBatch() });
    await call('POST', '/v1/consent/pause', { token: manage, body: { minutes: 5 } });
    await call('POST', '/v1/events', { token: agent, body: captureBatch() });
    await call('GET', '/v1/consent/history', { token: manage });
    await call('POST', '/v1/consent/pause', { token: manage, body: { minutes: 0 } });
    await call('POST', '/v1/consent/resume', { token: manage, body: {} });
    await call('POST', '/v1/consent/revoke', { token: manage, body: { erase: false } });
    await call('POST', '/v1/consent/pause', { token: manage, body: { minutes: 5 } });
    await call('POST', '/v1/events', { token: 'not-a-jwt' });
    const statuses = seen.map(([m, p, r]) => `${m} ${p} ${r.status}`);
    expect(statuses).toEqual([
      'GET /v1/consent 200',
      'POST /v1/consent 200',
      'GET /v1/consent 200',
      'GET /v1/consent 304',
      'PUT /v1/consent/exclusions 200',
      'POST /v1/events 202',
      'POST /v1/events 200',
      'POST /v1/events 400',
      'POST /v1/events 403',
      'POST /v1/consent/pause 200',
      'POST /v1/events 403',
      'GET /v1/consent/history 200',
      'POST /v1/consent/pause 400',
      'POST /v1/consent/resume 200',
      'POST /v1/consent/revoke 200',
      'POST /v1/consent/pause 409',
      'POST /v1/events 401',
    ]);
    for (const [method, path, response] of seen) conforms(path, method, response);
  });
});

describe('ETag on GET /v1/consent', () => {
  it('answers 304 without a body to If-None-Match while nothing changed, and 200 with a new tag after a change', async () => {
    // Arrange
    await grant('e-etag', ['keystrokes']);
    const agent = await t.token('e-etag', 'capture:write');
    const first = await req('GET', '/v1/consent', { token: agent });
    const etag = first.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);

    // Act
    const unchanged = await req('GET', '/v1/consent', { token: agent, headers: { 'if-none-match': etag } });
    await req('POST', '/v1/consent/pause', { token: await t.token('e-etag', 'consent:manage'), body: { minutes: 10 } });
    const changed = await req('GET', '/v1/consent', { token: agent, headers: { 'if-none-match': etag } });

    // Assert
    expect(unchanged.status).toBe(304);
    expect(unchanged.text).toBe('');
    expect(unchanged.headers.get('etag')).toBe(etag);
    expect(changed.status).toBe(200);
    expect(changed.json()['status']).toBe('paused');
    expect(changed.headers.get('etag')).not.toBe(etag);
  });

  it('never answers 304 to another employee holding the same tag, nor to a malformed or foreign tag', async () => {
    await grant('e-etag-a', ['keystrokes']);
    await grant('e-etag-b', ['keystrokes']);
    const a = await req('GET', '/v1/consent', { token: await t.token('e-etag-a', 'capture:write') });
    const tokenB = await t.token('e-etag-b', 'capture:write');
    for (const tag of [a.headers.get('etag') ?? '', '"x"', 'W/', '', '"' + 'a'.repeat(5000) + '"']) {
      const b = await req('GET', '/v1/consent', { token: tokenB, headers: { 'if-none-match': tag } });
      expect(b.status).toBe(200);
      expect(b.json()['employeeId']).toBe('e-etag-b');
    }
  });
});

describe('PUT /v1/consent/exclusions', () => {
  it('records the change in the ledger with the employee as actor and returns it in GET /v1/consent', async () => {
    // Arrange
    await grant('e-ex1', ['keystrokes']);
    const manage = await t.token('e-ex1', 'consent:manage');

    // Act
    const put = await req('PUT', '/v1/consent/exclusions', { token: manage, body: { apps: ['KeePassXC', 'KeePassXC'], titlePatterns: ['*Bank*'] } });
    const state = await req('GET', '/v1/consent', { token: await t.token('e-ex1', 'capture:write') });
    const history = await req('GET', '/v1/consent/history', { token: manage });

    // Assert
    expect(put.status).toBe(200);
    expect(state.json()['exclusions']).toEqual({ apps: ['KeePassXC'], titlePatterns: ['*Bank*'] });
    expect(state.json()['status']).toBe('active');
    const events = history.json<{ events: { kind: string; actor: { kind: string; subject: string } }[] }>().events;
    expect(events.map((e) => e.kind)).toEqual(['granted', 'exclusions-changed']);
    expect(events[1]?.actor).toMatchObject({ kind: 'employee', subject: 'e-ex1' });
  });

  it('refuses agents, oversized lists, control characters and unknown fields', async () => {
    await grant('e-ex2', ['keystrokes']);
    const manage = await t.token('e-ex2', 'consent:manage');
    const agentPut = await req('PUT', '/v1/consent/exclusions', { token: await t.token('e-ex2', 'capture:write'), body: { apps: [], titlePatterns: [] } });
    expect(agentPut.status).toBe(403);
    for (const body of [
      { apps: Array.from({ length: 101 }, (_, i) => `app-${i}`), titlePatterns: [] },
      { apps: [], titlePatterns: ['x'.repeat(257)] },
      { apps: ['a\u0000b'], titlePatterns: [] },
      { apps: [], titlePatterns: [], employeeId: 'e-other' },
      { apps: ['x'] },
    ]) {
      const response = await req('PUT', '/v1/consent/exclusions', { token: manage, body });
      expect(response.status, JSON.stringify(body).slice(0, 80)).toBe(400);
    }
    const history = await req('GET', '/v1/consent/history', { token: manage });
    expect(history.json<{ events: unknown[] }>().events).toHaveLength(1);
  });

  it('is ingest-enforced: a raw client that sends excluded events gets them dropped and counted, never stored', async () => {
    // Arrange
    await grant('e-ex3');
    await req('PUT', '/v1/consent/exclusions', { token: await t.token('e-ex3', 'consent:manage'), body: { apps: ['keepass'], titlePatterns: ['*online bank*'] } });
    const now = Date.now();
    const batch = {
      batchId: 'b-ex3',
      deviceId: 'laptop-1',
      events: [
        { kind: 'keystroke', ts: now - 50, text: 'kept-text-1', app: 'editor' },
        { kind: 'keystroke', ts: now - 40, text: 'SECRET-IN-KEEPASS', app: 'KeePass' },
        { kind: 'app-focus', ts: now - 30, app: 'browser', title: 'My Online Bank - Accounts' },
        { kind: 'keystroke', ts: now - 20, text: 'SECRET-ON-BANK-PAGE' },
        { kind: 'click', ts: now - 15, x: 1, y: 2, button: 'left' },
        { kind: 'app-focus', ts: now - 10, app: 'editor', title: 'notes.txt' },
        { kind: 'keystroke', ts: now - 5, text: 'kept-text-2' },
      ],
    };

    // Act
    const response = await req('POST', '/v1/events', { token: await t.token('e-ex3', 'capture:write'), body: batch });

    // Assert
    expect(response.status).toBe(202);
    expect(response.json()).toEqual({ batchId: 'b-ex3', stored: { keystrokes: 2, 'app-focus': 1 }, refused: {}, redacted: 0, excluded: 4 });
  });

  it('answers a batch of only excluded events with 202, nothing stored', async () => {
    await grant('e-ex4', ['keystrokes']);
    await req('PUT', '/v1/consent/exclusions', { token: await t.token('e-ex4', 'consent:manage'), body: { apps: ['vault'], titlePatterns: [] } });
    const response = await req('POST', '/v1/events', {
      token: await t.token('e-ex4', 'capture:write'),
      body: { batchId: 'b-ex4', deviceId: 'd', events: [{ kind: 'keystroke', ts: Date.now() - 1, text: 'only-excluded', app: 'Vault' }] },
    });
    expect(response.status).toBe(202);
    expect(response.json()).toEqual({ batchId: 'b-ex4', stored: {}, refused: {}, redacted: 0, excluded: 1 });
    expect(await objectsOf('e-ex4')).toEqual([]);
  });

  it('stays fast against a pattern and titles built to be slow to match, dropping what it cannot judge', async () => {
    // Arrange: 100 patterns of `*aaa…ab` against titles of 900 `a`s cost ~23 M steps per title unbounded.
    await grant('e-ex5', ['app-focus']);
    const pattern = `*${'a'.repeat(250)}b`;
    const put = await req('PUT', '/v1/consent/exclusions', {
      token: await t.token('e-ex5', 'consent:manage'),
      body: { apps: Array.from({ length: 100 }, (_, i) => `app-${i}`), titlePatterns: Array.from({ length: 100 }, (_, i) => `${pattern}${i}`) },
    });
    expect(put.status).toBe(200);
    const now = Date.now();
    const events = Array.from({ length: 800 }, (_, i) => ({ kind: 'app-focus', ts: now - 1000 + i, app: 'x', title: 'a'.repeat(900) }));

    // Act
    const started = performance.now();
    const response = await req('POST', '/v1/events', { token: await t.token('e-ex5', 'capture:write'), body: gzipSync(JSON.stringify({ batchId: 'b-ex5', deviceId: 'd', events })), headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' } });
    const elapsed = performance.now() - started;

    // Assert
    expect(response.status).toBe(202);
    expect(response.json()['excluded']).toBeGreaterThan(790);
    expect(elapsed).toBeLessThan(5_000);
  });
});

describe('gzip request bodies on POST /v1/events', () => {
  const gzipHeaders = { 'content-encoding': 'gzip', 'content-type': 'application/json' };

  it('stores a gzip batch exactly as the same batch sent plain', async () => {
    await grant('e-gz1', ['keystrokes', 'clicks', 'app-focus']);
    const batch = captureBatch({ marker: 'GZ-MARKER' });
    const response = await req('POST', '/v1/events', { token: await t.token('e-gz1', 'capture:write'), body: gzipSync(JSON.stringify(batch)), headers: gzipHeaders });
    expect(response.status).toBe(202);
    expect(response.json()).toEqual({ batchId: batch.batchId, stored: { keystrokes: 2, clicks: 2, 'app-focus': 2 }, refused: {}, redacted: 0 });
    const again = await req('POST', '/v1/events', { token: await t.token('e-gz1', 'capture:write'), body: batch });
    expect(again.json()).toEqual({ batchId: batch.batchId, duplicate: true });
  });

  it('answers 413 to a gzip bomb (64 MiB of zeros in 64 KiB) quickly and stores nothing', async () => {
    await grant('e-gz2', ['keystrokes']);
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20), { level: 9 });
    expect(bomb.length).toBeLessThan(MAX_BODY_BYTES);
    const started = performance.now();
    const response = await req('POST', '/v1/events', { token: await t.token('e-gz2', 'capture:write'), body: bomb, headers: gzipHeaders });
    expect(response.status).toBe(413);
    expect(response.json()['error']).toBe('payload-too-large');
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(await objectsOf('e-gz2')).toEqual([]);
  });

  it('answers 413 to a valid batch that is small compressed but over the limit decompressed', async () => {
    await grant('e-gz3', ['keystrokes']);
    const now = Date.now();
    const events = Array.from({ length: 300 }, (_, i) => ({ kind: 'keystroke', ts: now - 300 + i, text: 'x'.repeat(4000) }));
    const body = gzipSync(JSON.stringify({ batchId: 'b-gz3', deviceId: 'd', events }));
    expect(body.length).toBeLessThan(64 * 1024);
    const response = await req('POST', '/v1/events', { token: await t.token('e-gz3', 'capture:write'), body, headers: gzipHeaders });
    expect(response.status).toBe(413);
  });

  it('refuses corrupt gzip (400), other encodings (415) and never answers 5xx', async () => {
    await grant('e-gz4', ['keystrokes']);
    const token = await t.token('e-gz4', 'capture:write');
    const good = gzipSync(JSON.stringify(captureBatch()));
    const corrupt = Buffer.from(good);
    corrupt.writeUInt8((corrupt.readUInt8(good.length - 6) ^ 0xff), good.length - 6);
    expect((await req('POST', '/v1/events', { token, body: corrupt, headers: gzipHeaders })).status).toBe(400);
    expect((await req('POST', '/v1/events', { token, body: good.subarray(0, 20), headers: gzipHeaders })).status).toBe(400);
    expect((await req('POST', '/v1/events', { token, body: Buffer.from('not gzip'), headers: gzipHeaders })).status).toBe(400);
    const br = await req('POST', '/v1/events', { token, body: good, headers: { ...gzipHeaders, 'content-encoding': 'br' } });
    expect(br.status).toBe(415);
    expect(br.json()['error']).toBe('unsupported-content-encoding');
    expect((await req('POST', '/v1/events', { token, body: good, headers: { ...gzipHeaders, 'content-encoding': 'gzip, gzip' } })).status).toBe(415);
  });
});
