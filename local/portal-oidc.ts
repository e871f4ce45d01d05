// The local issuer's sign-in endpoints, so the portal's real OIDC code (authorization code + PKCE)
// runs locally: `/authorize` is a plain "sign in as" form for an employee id, `/token` swaps a
// one-time code for an access token (RS256, from the same local issuer the gateway trusts) and an
// ID token. There is no password: the local stack trusts whoever can reach 127.0.0.1.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ID_PATTERN } from '../contract/vocabulary.js';
import type { LocalIssuer } from './issuer.js';

/** The portal's OAuth client id, locally and (by default) in AWS. */
export const PORTAL_CLIENT_ID = 'consent-capture-portal';
/** What a portal sign-in grants: the employee's own consent, never capture or offboarding. */
export const PORTAL_TOKEN_SCOPE = 'consent:manage';
const CODE_TTL_MS = 60_000;
const TOKEN_TTL_SECONDS = 3600;
const MAX_FORM_BYTES = 16 * 1024;

export interface LocalOidcOptions {
  readonly issuer: Pick<LocalIssuer, 'issuer' | 'mint'>;
  /** The one redirect URI the portal may use (the portal's own `/`), known once the gateway listens. */
  readonly redirectUri: () => string;
}

interface PendingCode {
  readonly employeeId: string;
  readonly codeChallenge: string;
  readonly redirectUri: string;
  readonly nonce: string | undefined;
  readonly expiresAt: number;
}

class OidcError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) {
        reject(new OidcError(413, 'invalid_request', 'the form is too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

/** The authorization request's parameters, checked as an IdP would before it shows a sign-in form. */
function authorizationRequest(params: URLSearchParams, redirectUri: string): Record<string, string> {
  const get = (name: string): string => params.get(name) ?? '';
  if (get('client_id') !== PORTAL_CLIENT_ID) throw new OidcError(400, 'invalid_client', `unknown client_id; the local issuer knows only ${PORTAL_CLIENT_ID}`);
  // Never redirect anywhere but the portal: an open redirect would hand codes to another site.
  if (get('redirect_uri') !== redirectUri) throw new OidcError(400, 'invalid_request', `redirect_uri must be ${redirectUri}`);
  if (get('response_type') !== 'code') throw new OidcError(400, 'unsupported_response_type', 'response_type must be code');
  if (get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(get('code_challenge'))) {
    throw new OidcError(400, 'invalid_request', 'PKCE is required: send code_challenge with code_challenge_method=S256');
  }
  const kept: Record<string, string> = {};
  for (const name of ['client_id', 'redirect_uri', 'response_type', 'code_challenge', 'code_challenge_method', 'state', 'nonce', 'scope']) {
    const value = params.get(name);
    if (value !== null) kept[name] = value.slice(0, 512);
  }
  return kept;
}

function signInPage(request: Record<string, string>, problem?: string): string {
  const hidden = Object.entries(request)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('\n      ');
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="color-scheme" content="light dark">
  <title>Sign in (local issuer)</title>
</head>
<body>
  <main>
    <h1>Sign in (local issuer)</h1>
    <p>This is the local stack's stand-in for the company's identity provider. Sign in as any employee id.</p>
    ${problem === undefined ? '' : `<p role="alert">${escapeHtml(problem)}</p>`}
    <form method="post" action="/authorize">
      ${hidden}
      <p><label for="employee">Employee id</label><br>
      <input id="employee" name="employee" autocomplete="username" required pattern="[A-Za-z0-9_\\-]{1,64}" autofocus></p>
      <p><button type="submit">Sign in</button></p>
    </form>
  </main>
</body>
</html>
`;
}

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

function pkceMatches(verifier: string, challenge: string): boolean {
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) return false;
  const computed = Buffer.from(createHash('sha256').update(verifier, 'ascii').digest('base64url'));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

export interface LocalOidc {
  /** Serves `/authorize` and `/token`; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}

export function localOidc(options: LocalOidcOptions): LocalOidc {
  const codes = new Map<string, PendingCode>();

  function sendJson(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache' });
    res.end(JSON.stringify(body));
  }

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await readForm(req);
    if (form.get('grant_type') !== 'authorization_code') throw new OidcError(400, 'unsupported_grant_type', 'grant_type must be authorization_code');
    if (form.get('client_id') !== PORTAL_CLIENT_ID) throw new OidcError(401, 'invalid_client', 'unknown client_id');
    const code = form.get('code') ?? '';
    const pending = codes.get(code);
    // A code works once, whatever happens next.
    codes.delete(code);
    if (pending === undefined || pending.expiresAt < Date.now()) throw new OidcError(400, 'invalid_grant', 'the code is unknown, used or expired');
    if (form.get('redirect_uri') !== pending.redirectUri) throw new OidcError(400, 'invalid_grant', 'redirect_uri does not match the authorization request');
    if (!pkceMatches(form.get('code_verifier') ?? '', pending.codeChallenge)) throw new OidcError(400, 'invalid_grant', 'the code_verifier does not match the code_challenge');
    const accessToken = await options.issuer.mint({ subject: pending.employeeId, scope: PORTAL_TOKEN_SCOPE, ttlSeconds: TOKEN_TTL_SECONDS });
    const idToken = await options.issuer.mint({
      subject: pending.employeeId,
      scope: 'openid',
      audience: PORTAL_CLIENT_ID,
      ttlSeconds: TOKEN_TTL_SECONDS,
      ...(pending.nonce === undefined ? {} : { claims: { nonce: pending.nonce } }),
    });
    sendJson(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: TOKEN_TTL_SECONDS, scope: PORTAL_TOKEN_SCOPE, id_token: idToken });
  }

  async function authorize(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const redirectUri = options.redirectUri();
    if (req.method === 'GET') {
      const request = authorizationRequest(url.searchParams, redirectUri);
      res.writeHead(200, PAGE_HEADERS);
      res.end(signInPage(request));
      return;
    }
    const form = await readForm(req);
    const request = authorizationRequest(form, redirectUri);
    const employeeId = form.get('employee') ?? '';
    if (!ID_PATTERN.test(employeeId)) {
      res.writeHead(400, PAGE_HEADERS);
      res.end(signInPage(request, 'An employee id is 1 to 64 letters, digits, dashes or underscores.'));
      return;
    }
    const code = randomBytes(32).toString('base64url');
    const now = Date.now();
    for (const [key, value] of codes) if (value.expiresAt < now) codes.delete(key);
    codes.set(code, { employeeId, codeChallenge: request['code_challenge'] ?? '', redirectUri, nonce: request['nonce'], expiresAt: now + CODE_TTL_MS });
    const back = new URL(redirectUri);
    back.searchParams.set('code', code);
    if (request['state'] !== undefined) back.searchParams.set('state', request['state']);
    back.searchParams.set('iss', options.issuer.issuer);
    res.writeHead(303, { location: back.toString(), 'cache-control': 'no-store' });
    res.end();
  }

  return {
    async handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const isAuthorize = url.pathname === '/authorize' && (req.method === 'GET' || req.method === 'POST');
      const isToken = url.pathname === '/token' && req.method === 'POST';
      if (!isAuthorize && !isToken) return false;
      try {
        if (isToken) await token(req, res);
        else await authorize(req, res, url);
      } catch (error) {
        if (!(error instanceof OidcError)) throw error;
        if (isToken) sendJson(res, error.status, { error: error.code, error_description: error.message });
        else {
          res.writeHead(error.status, { ...PAGE_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
          res.end(`sign-in refused: ${error.message}\n`);
        }
      }
      return true;
    },
  };
}
