// Attacks on the surface issues 11, 13 and 14 added, against the running local stack: the local
// sign-in (/authorize, /token) by a malicious page (and one that rebinds its name to 127.0.0.1), gzip bodies by a malformed request, the ETag of
// GET /v1/consent and the exclusions by an agent, and `audit employee`'s table by an
// administrator who writes into the trail through a denied KMS call.
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { MAX_EXCLUSIONS_BYTES } from '../../contract/exclusions.js';
import { main } from '../../tools/audit/index.js';
import { newBatchId } from '../support/capture-batches.js';
import { NOTICE, useTestStack } from '../support/consent-api.js';

const stack = useTestStack();
const api = (): string => stack.current.local.api;

/** One PKCE pair, as the portal makes it. */
function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeParams(challenge: string, overrides: Record<string, string> = {}): URLSearchParams {
  return new URLSearchParams({
    client_id: 'consent-capture-portal',
    redirect_uri: `${api()}/`,
    response_type: 'code',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: 'state-1',
    nonce: 'nonce-1',
    scope: 'openid consent:manage',
    ...overrides,
  });
}

/** Signs in through the form as `employee`; returns the answer (a 303 to the portal, or a refusal). */
async function signIn(employee: string, params: URLSearchParams): Promise<Response> {
  const form = new URLSearchParams(params);
  form.set('employee', employee);
  return fetch(`${api()}/authorize`, { method: 'POST', body: form, redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
}

async function redeem(code: string, verifier: string): Promise<Response> {
  const form = new URLSearchParams({ grant_type: 'authorization_code', client_id: 'consent-capture-portal', code, code_verifier: verifier, redirect_uri: `${api()}/` });
  return fetch(`${api()}/token`, { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
}

async function codeFor(employee: string, challenge: string, overrides: Record<string, string> = {}): Promise<string> {
  const answer = await signIn(employee, authorizeParams(challenge, overrides));
  expect(answer.status).toBe(303);
  const code = new URL(answer.headers.get('location') ?? '').searchParams.get('code');
  if (code === null) throw new Error('no code in the redirect');
  return code;
}

describe('a malicious web page driving the local sign-in', () => {
  it('cannot have a code sent anywhere but the portal', async () => {
    const { challenge } = pkce();

    const page = await fetch(`${api()}/authorize?${authorizeParams(challenge, { redirect_uri: 'https://evil.example/' }).toString()}`, { redirect: 'manual' });
    const posted = await signIn('e-victim', authorizeParams(challenge, { redirect_uri: `${api()}/.evil.example/` }));

    expect(page.status).toBe(400);
    expect(posted.status).toBe(400);
    expect(posted.headers.get('location')).toBeNull();
  });

  it('cannot downgrade PKCE to plain, or leave it out', async () => {
    const { verifier } = pkce();

    const plain = await signIn('e-victim', authorizeParams(verifier, { code_challenge_method: 'plain' }));
    const none = await signIn('e-victim', new URLSearchParams([...authorizeParams('x')].filter(([k]) => !k.startsWith('code_challenge'))));

    expect(plain.status).toBe(400);
    expect(none.status).toBe(400);
  });

  it('cannot redeem a code without its verifier, nor twice', async () => {
    const { verifier, challenge } = pkce();
    const code = await codeFor('e-oidc-1', challenge);

    const wrong = await redeem(code, pkce().verifier);
    const afterWrong = await redeem(code, verifier);
    const other = await codeFor('e-oidc-1', challenge);
    const first = await redeem(other, verifier);
    const second = await redeem(other, verifier);

    expect(wrong.status).toBe(400);
    expect(afterWrong.status).toBe(400); // a code works once, even after a failed try
    expect(first.status).toBe(200);
    expect(second.status).toBe(400);
  });

  it('gets a token for consent:manage only, whatever scope it asks for', async () => {
    const { verifier, challenge } = pkce();
    const code = await codeFor('e-oidc-2', challenge, { scope: 'openid consent:manage capture:write capture:offboard datasets:build' });

    const body = (await (await redeem(code, verifier)).json()) as { access_token: string; id_token: string };
    const idTokenAsBearer = await stack.current.local.request('GET', '/v1/consent', { token: body.id_token });
    const capture = await stack.current.local.request('POST', '/v1/events', { token: body.access_token, body: { batchId: newBatchId(), deviceId: 'd', events: [] } });

    expect(decodeJwt(body.access_token)['scope']).toBe('consent:manage');
    expect(decodeJwt(body.access_token)['sub']).toBe('e-oidc-2');
    expect([401, 403]).toContain(idTokenAsBearer.status);
    expect(capture.status).toBe(403);
  });

  it('cannot script the sign-in form through state, nonce or the employee id, nor frame it', async () => {
    const { challenge } = pkce();
    const script = '"><script>alert(1)</script>';

    const page = await fetch(`${api()}/authorize?${authorizeParams(challenge, { state: script, nonce: script }).toString()}`);
    const html = await page.text();
    const badId = await signIn('<img src=x onerror=alert(1)>', authorizeParams(challenge, { state: script }));
    const badHtml = await badId.text();

    expect(page.status).toBe(200);
    expect(html).not.toContain('<script>');
    expect(html).toContain('&quot;&gt;&lt;script&gt;');
    expect(page.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(badId.status).toBe(400);
    expect(badHtml).not.toContain('<img');
    expect(badHtml).not.toContain('<script>');
  });

  it('keeps state as an opaque value in the redirect (no parameter injection)', async () => {
    const { challenge } = pkce();

    const answer = await signIn('e-oidc-3', authorizeParams(challenge, { state: 'x&code=attacker&iss=https://evil.example' }));
    const back = new URL(answer.headers.get('location') ?? '');

    expect(back.origin).toBe(api());
    expect(back.searchParams.getAll('code')).toHaveLength(1);
    expect(back.searchParams.get('code')).not.toBe('attacker');
    expect(back.searchParams.getAll('iss')).toHaveLength(1);
    expect(back.searchParams.get('iss')).not.toBe('https://evil.example');
    expect(back.searchParams.get('state')).toBe('x&code=attacker&iss=https://evil.example');
  });
});

/** A request with the Host header a browser sends for a page on `host` (fetch may not set Host). */
function requestAs(host: string, path: string, token?: string): Promise<{ status: number; body: string }> {
  const url = new URL(path, api());
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname: url.hostname, port: url.port, path: url.pathname + url.search, headers: { host, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('a web page on another name that resolves to 127.0.0.1 (DNS rebinding)', () => {
  // The hole: the gateway answered whatever the Host header said. A page on attacker.example that
  // rebinds its name to 127.0.0.1 is same-origin with the local stack, so it could drive the local
  // sign-in (anyone may sign in as anyone there), redeem the code and read an employee's data.
  it('gets no sign-in form, no token and no API answer', async () => {
    // Arrange
    const port = new URL(api()).port;
    const { challenge } = pkce();
    const token = await stack.current.token('e-rebind', 'consent:manage');

    // Act
    const form = await requestAs(`attacker.example:${port}`, `/authorize?${authorizeParams(challenge).toString()}`);
    const consent = await requestAs(`attacker.example:${port}`, '/v1/consent', token);
    const config = await requestAs(`attacker.example:${port}`, '/config.json');
    const local = await requestAs(`localhost:${port}`, '/v1/consent', token);

    // Assert
    expect(form.status).toBe(421);
    expect(form.body).not.toContain('<form');
    expect(consent.status).toBe(421);
    expect(config.status).toBe(421);
    expect(JSON.parse(consent.body)).toMatchObject({ error: 'misdirected-request' });
    expect(local.status).toBe(200);
  });
});

describe('a malformed gzip request to ingest', () => {
  const send = async (id: string, body: Buffer, encoding: string) =>
    stack.current.local.request('POST', '/v1/events', { token: await stack.current.token(id, 'capture:write'), body, headers: { 'content-type': 'application/json', 'content-encoding': encoding } });
  const batch = (): string => JSON.stringify({ batchId: newBatchId(), deviceId: 'd', events: [{ kind: 'keystroke', ts: Date.now() - 1_000, text: 'a', app: 'x' }] });

  it('is refused in words, never a 5xx: a bomb, trailing garbage, nested and unknown encodings, a lie', async () => {
    const answers = {
      bomb: await send('e-gz', gzipSync(Buffer.alloc(40 * 1024 * 1024, 0x20)), 'gzip'),
      trailing: await send('e-gz', Buffer.concat([gzipSync(batch()), Buffer.from('garbage')]), 'gzip'),
      nested: await send('e-gz', gzipSync(gzipSync(batch())), 'gzip, gzip'),
      doubled: await send('e-gz', gzipSync(gzipSync(batch())), 'gzip'),
      deflate: await send('e-gz', gzipSync(batch()), 'deflate'),
      notGzip: await send('e-gz', Buffer.from(batch()), 'gzip'),
      truncated: await send('e-gz', gzipSync(batch()).subarray(0, 20), 'gzip'),
    };

    expect(Object.fromEntries(Object.entries(answers).map(([k, r]) => [k, r.status]))).toEqual({ bomb: 413, trailing: 400, nested: 415, doubled: 400, deflate: 415, notGzip: 400, truncated: 400 });
    for (const r of Object.values(answers)) expect(() => r.json()).not.toThrow();
  });
});

describe('an agent', () => {
  it('gets a fresh 200, not a 304, once a pause changed the state behind its cached ETag', async () => {
    const t = stack.current;
    const id = 'e-etag-pause';
    const manage = await t.token(id, 'consent:manage');
    expect((await t.call('POST', '/v1/consent', { token: manage, body: { scopes: ['clicks'], ...NOTICE } })).status).toBe(200);
    const agent = await t.token(id, 'capture:write');
    const cached = (await t.local.request('GET', '/v1/consent', { token: agent })).headers.get('etag') ?? '';
    expect(cached).not.toBe('');

    expect((await t.call('POST', '/v1/consent/pause', { token: manage, body: { minutes: 15 } })).status).toBe(200);
    const after = await t.local.request('GET', '/v1/consent', { token: agent, headers: { 'if-none-match': cached } });

    expect(after.status).toBe(200);
    expect(after.json()['status']).toBe('paused');
  });

  it('as an agent, cannot change the exclusions or read when the key last captured', async () => {
    const t = stack.current;
    const agent = await t.token('e-excl-agent', 'capture:write');

    const put = await t.local.request('PUT', '/v1/consent/exclusions', { token: agent, body: { apps: [], titlePatterns: [] } });
    const last = await t.local.request('GET', '/v1/consent/last-capture', { token: agent });

    expect(put.status).toBe(403);
    expect(last.status).toBe(403);
  });
});

describe('an employee with the longest exclusion lists', () => {
  // The hole: the per-list limits allowed 150 KB of exclusions (200 entries of 256 three-byte
  // characters), copied onto every later ledger event, every consent read (agent polls, ingest
  // batches) and every history event: 40 toggles took the history past Lambda's 6 MB answer.
  it('cannot store more than MAX_EXCLUSIONS_BYTES of lists, and the refusal says why', async () => {
    // Arrange
    const t = stack.current;
    const token = await t.token('e-excl-huge', 'consent:manage');
    const long = (i: number): string => `${'中'.repeat(250)}${String(i).padStart(3, '0')}`;
    const huge = { apps: Array.from({ length: 100 }, (_, i) => long(i)), titlePatterns: Array.from({ length: 100 }, (_, i) => long(i)) };
    const realistic = { apps: Array.from({ length: 100 }, (_, i) => `app-number-${i}.exe`), titlePatterns: Array.from({ length: 100 }, (_, i) => `*private matter ${i}*`) };

    // Act
    const refused = await t.call('PUT', '/v1/consent/exclusions', { token, body: huge });
    const kept = await t.call('PUT', '/v1/consent/exclusions', { token, body: realistic });
    const events = await t.ledger.events('e-excl-huge');

    // Assert
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid-body');
    expect(kept.status).toBe(200);
    expect(events.map((e) => e.kind)).toEqual(['exclusions-changed']);
    expect(Buffer.byteLength(JSON.stringify(events[0]?.state.exclusions))).toBeLessThanOrEqual(MAX_EXCLUSIONS_BYTES);
  });
});

describe('an administrator writing into the trail through a denied KMS call', () => {
  // The hole: the local KMS (like CloudTrail) records a denied call's encryption context as sent,
  // and `audit employee` printed it raw, so a newline in it forged a ledger row (here, a withdrawal
  // that never happened) in the analyst's table, and an escape sequence reached the terminal.
  it('cannot forge a row, or an escape sequence, in `audit employee`', async () => {
    // Arrange
    const t = stack.current;
    const id = 'e-audit-inject';
    expect((await t.call('POST', '/v1/consent', { token: await t.token(id, 'consent:manage'), body: { scopes: ['keystrokes'], ...NOTICE } })).status).toBe(200);
    const forged = `keystrokes\n2026-11-30T09:00:00Z  ledger  revoked  employee ${id}  \u001b[32mFORGED\u202e`;
    await expect(
      t.kms('admin').send(new GenerateDataKeyCommand({ KeyId: `alias/consent-capture/${id}`, KeySpec: 'AES_256', EncryptionContext: { employeeId: id, scope: forged } })),
    ).rejects.toThrow();

    // Act
    const out: string[] = [];
    const code = await main(['employee', id, '--dir', t.local.localDir], { out: (l) => out.push(l), err: () => undefined });
    const lines = out.join('\n').split('\n');

    // Assert: every row starts with a time and a source, and the forged text sits escaped in one cell.
    expect(code).toBe(0);
    const rows = lines.slice(lines.findIndex((l) => l.startsWith('TIME')) + 1);
    expect(rows.length).toBeGreaterThan(1);
    for (const row of rows) expect(row).toMatch(/^\d{4}-\d\d-\d\dT\S+\s+(ledger|kms)\s/);
    expect(rows.filter((r) => r.includes('FORGED'))).toEqual([expect.stringContaining('AccessDeniedException')]);
    expect(out.join('\n')).not.toMatch(/[\u001b\u202e]/);
    expect(out.join('\n')).toContain('\\u{a}2026-11-30T09:00:00Z');
  });
});
