// The local HTTP API: API Gateway (HTTP API, payload format 2.0, JWT authorizer) on 127.0.0.1.
// It matches the shared route table, verifies the bearer token against the local issuer, checks
// the route's scopes, builds the event the function would get in AWS, and writes its result.
// Clients only ever see the contract's JSON errors: never a stack trace or a function's message.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { decodeProtectedHeader, errors as joseErrors, type JWTPayload } from 'jose';
import type { FunctionName } from '../contract/functions.js';
import { routeKey, type ApiRoute } from '../contract/routes.js';
import { FunctionInvocationError } from './functions.js';
import { ISSUER_ALG, type LocalIssuer } from './issuer.js';
import { keepIdleConnections } from './keep-alive.js';

export interface LocalGatewayOptions {
  readonly routes: readonly ApiRoute[];
  readonly issuer: Pick<LocalIssuer, 'verify'>;
  /** Runs a route's function; rejects with FunctionInvocationError when it yields no result. */
  readonly invoke: (fn: FunctionName, event: APIGatewayProxyEventV2WithJWTAuthorizer) => Promise<unknown>;
  /** Functions that can serve requests; routes to others answer 501. @default - all */
  readonly available?: (fn: FunctionName) => boolean;
  /** @default 3000 (0 picks a free port) */
  readonly port?: number;
  /** For requestContext.accountId. */
  readonly account: string;
  /** API Gateway's payload limit. @default 10 MiB */
  readonly maxBodyBytes?: number;
  /**
   * JSON documents answered to GET without a token, by path (the OpenAPI document). Routes of the
   * table always need one. @default - none
   */
  readonly publicDocuments?: Readonly<Record<string, string>>;
  /** One line per request (method, route, status, duration, request id) and per internal fault; never bodies. */
  readonly onNote?: (line: string) => void;
  /**
   * Serves paths outside `/v1/` before the routes are matched (the portal's files and the local
   * sign-in endpoints, on the API's origin as CloudFront puts them in AWS); answers true when it
   * answered. @default - none: every path is an API path
   */
  readonly serveOther?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
}

export interface LocalGateway {
  readonly url: string;
  close(): Promise<void>;
}

/** API Gateway's payload limit; the API contract's own 1 MiB limit is the handlers' to enforce. */
export const GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;
/** How much of an oversized body is read (and thrown away) so the client can read the 413. */
const DISCARD_LIMIT_BYTES = 64 * 1024 * 1024;

class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

interface MatchedRoute {
  readonly route: ApiRoute;
  readonly pathParameters: Record<string, string>;
}

type RouteMatch = { kind: 'found'; match: MatchedRoute } | { kind: 'wrong-method'; allowed: string[] } | { kind: 'none' };

function compileRoutes(routes: readonly ApiRoute[]): (method: string, path: string) => RouteMatch {
  const compiled = routes.map((route) => ({ route, segments: route.path.split('/') }));
  return (method, path) => {
    const segments = path.split('/');
    const allowed: string[] = [];
    for (const { route, segments: pattern } of compiled) {
      if (pattern.length !== segments.length) continue;
      const pathParameters: Record<string, string> = {};
      let matches = true;
      for (let i = 0; i < pattern.length && matches; i += 1) {
        const want = pattern[i] ?? '';
        const got = segments[i] ?? '';
        const param = /^\{([A-Za-z0-9_]+)\}$/.exec(want);
        if (param?.[1] !== undefined) {
          let value: string;
          try {
            value = decodeURIComponent(got);
          } catch {
            value = '';
          }
          if (value === '') matches = false;
          else pathParameters[param[1]] = value;
        } else if (want !== got) {
          matches = false;
        }
      }
      if (!matches) continue;
      if (route.method === method) return { kind: 'found', match: { route, pathParameters } };
      allowed.push(route.method);
    }
    return allowed.length > 0 ? { kind: 'wrong-method', allowed } : { kind: 'none' };
  };
}

function bearerToken(req: IncomingMessage): string {
  const header = req.headers.authorization;
  const match = header === undefined ? null : /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(header);
  if (!match?.[1]) {
    throw new GatewayError(401, 'unauthorized', 'a bearer token is required: send Authorization: Bearer <JWT>', { 'www-authenticate': 'Bearer' });
  }
  return match[1];
}

function unauthorized(description: string): GatewayError {
  return new GatewayError(401, 'unauthorized', description, {
    'www-authenticate': `Bearer error="invalid_token", error_description="${description.replace(/"/g, "'")}"`,
  });
}

/**
 * Refuses any algorithm but RS256 before the signature is looked at. An HTTP API's JWT authorizer
 * verifies only RSA signatures, so a token signed otherwise (ES256, an HS256 token forged with the
 * public key as its secret, or `alg: none`) would fail in AWS and must fail here too.
 */
function requireRs256(token: string): void {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw unauthorized('the token is malformed');
  }
  if (alg !== ISSUER_ALG) {
    throw unauthorized(`the token is signed with ${typeof alg === 'string' ? alg.slice(0, 20) : 'no algorithm'}; this API accepts only ${ISSUER_ALG}`);
  }
}

async function verifyToken(issuer: LocalGatewayOptions['issuer'], token: string): Promise<JWTPayload> {
  requireRs256(token);
  try {
    return await issuer.verify(token);
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw unauthorized('the token has expired');
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      const what = { iss: 'issuer', aud: 'audience', nbf: 'not-before time', iat: 'issue time', exp: 'expiry' }[error.claim] ?? `${error.claim} claim`;
      throw unauthorized(`the token's ${what} is not valid for this API`);
    }
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) throw unauthorized('the token signature is invalid');
    if (error instanceof joseErrors.JOSEAlgNotAllowed) throw unauthorized('the token is not signed with an accepted algorithm');
    throw unauthorized('the token is malformed');
  }
}

/** The token's scopes: the space-separated `scope` claim (or an `scp` list, as some IdPs send). */
function scopesOf(payload: JWTPayload): string[] {
  const scope = payload['scope'];
  if (typeof scope === 'string') return scope.split(' ').filter((s) => s !== '');
  const scp = payload['scp'];
  if (Array.isArray(scp)) return scp.filter((s): s is string => typeof s === 'string');
  return [];
}

/** API Gateway hands claims to the function as strings; lists read `[a b]`. */
function stringifyClaims(payload: JWTPayload): Record<string, string> {
  const claims: Record<string, string> = {};
  for (const [name, value] of Object.entries(payload)) {
    if (value === undefined) continue;
    if (typeof value === 'string') claims[name] = value;
    else if (Array.isArray(value)) claims[name] = `[${value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(' ')}]`;
    else if (value !== null && typeof value === 'object') claims[name] = JSON.stringify(value);
    else claims[name] = String(value);
  }
  return claims;
}

/** API Gateway's request id: 16 characters, base64-like. */
function newRequestId(): string {
  return `${randomBytes(12).toString('base64').replace(/[+/]/g, 'A').slice(0, 15)}=`;
}

/** `12/Mar/2020:19:03:58 +0000`, as requestContext.time. */
function clfTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000`;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = (): GatewayError =>
      new GatewayError(413, 'payload-too-large', `the request body exceeds the gateway's limit of ${limit} bytes`);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return reject(tooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Reads and drops the rest of a body we refused, up to a bound, so the client gets to read our answer. */
function discardBody(req: IncomingMessage): void {
  if (req.readableEnded) return;
  let discarded = 0;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > DISCARD_LIMIT_BYTES) req.destroy();
  });
  req.resume();
}

const TEXT_TYPES = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded|graphql)\b|application\/[\w.+-]+\+(json|xml)\b)/i;

function bodyOf(req: IncomingMessage, raw: Buffer): { body?: string; isBase64Encoded: boolean } {
  if (raw.length === 0) return { isBase64Encoded: false };
  const contentType = String(req.headers['content-type'] ?? '');
  const encoded = req.headers['content-encoding'] !== undefined && req.headers['content-encoding'] !== 'identity';
  if (!encoded && TEXT_TYPES.test(contentType)) {
    try {
      return { body: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw), isBase64Encoded: false };
    } catch {
      // not UTF-8 after all: hand it over as binary
    }
  }
  return { body: raw.toString('base64'), isBase64Encoded: true };
}

function buildEvent(
  req: IncomingMessage,
  matched: MatchedRoute,
  payload: JWTPayload,
  raw: Buffer,
  requestId: string,
  account: string,
  received: Date,
): APIGatewayProxyEventV2WithJWTAuthorizer {
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
  const rawQueryString = queryAt === -1 ? '' : url.slice(queryAt + 1);
  // API Gateway joins repeated headers with commas and moves cookies to their own list.
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] ?? '').toLowerCase();
    const value = req.rawHeaders[i + 1] ?? '';
    if (name === 'cookie') {
      cookies.push(...value.split(';').map((c) => c.trim()).filter((c) => c !== ''));
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  headers['x-forwarded-for'] ??= sourceIp;
  headers['x-forwarded-proto'] ??= 'http';
  headers['x-forwarded-port'] ??= String(req.socket.localPort ?? '');
  headers['x-amzn-trace-id'] ??= `Root=1-${Math.floor(received.getTime() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
  const query: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  }
  const host = headers['host'] ?? '127.0.0.1';
  const key = routeKey(matched.route);
  return {
    version: '2.0',
    routeKey: key,
    rawPath,
    rawQueryString,
    ...(cookies.length === 0 ? {} : { cookies }),
    headers,
    ...(Object.keys(query).length === 0 ? {} : { queryStringParameters: query }),
    ...(Object.keys(matched.pathParameters).length === 0 ? {} : { pathParameters: matched.pathParameters }),
    requestContext: {
      accountId: account,
      apiId: 'local',
      authorizer: { jwt: { claims: stringifyClaims(payload), scopes: scopesOf(payload) } },
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: req.method ?? 'GET',
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: String(req.headers['user-agent'] ?? ''),
      },
      requestId,
      routeKey: key,
      stage: '$default',
      time: clfTime(received),
      timeEpoch: received.getTime(),
    },
    ...bodyOf(req, raw),
  };
}

/** What API Gateway makes of a function's return value (payload format 2.0). */
function responseOf(result: unknown): { status: number; headers: Record<string, string | string[]>; body: Buffer } {
  const structured = result !== null && typeof result === 'object' && !Array.isArray(result) && 'statusCode' in result;
  if (!structured) {
    // Anything else is the body of a 200 JSON answer (a string is sent as it is).
    const body = typeof result === 'string' ? result : JSON.stringify(result);
    return { status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(body, 'utf8') };
  }
  const r = result as APIGatewayProxyStructuredResultV2;
  const status = Number(r.statusCode);
  if (!Number.isInteger(status) || status < 100 || status > 599) throw new Error(`the function returned an invalid statusCode`);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(r.headers ?? {})) {
    if (value !== undefined && value !== null) headers[name.toLowerCase()] = String(value);
  }
  if (Array.isArray(r.cookies) && r.cookies.length > 0) headers['set-cookie'] = r.cookies.map(String);
  const text = typeof r.body === 'string' ? r.body : '';
  return { status, headers, body: r.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8') };
}

export async function startLocalGateway(options: LocalGatewayOptions): Promise<LocalGateway> {
  const match = compileRoutes(options.routes);
  const limit = options.maxBodyBytes ?? GATEWAY_MAX_BODY_BYTES;
  const note = options.onNote ?? (() => undefined);

  function send(res: ServerResponse, requestId: string, status: number, headers: Record<string, string | string[]>, body: Buffer): void {
    res.writeHead(status, {
      ...headers,
      'apigw-requestid': requestId,
      'x-request-id': requestId,
      'content-length': body.length,
    });
    res.end(body);
  }

  function sendError(res: ServerResponse, requestId: string, error: GatewayError): void {
    const body = Buffer.from(JSON.stringify({ error: error.code, message: error.message }), 'utf8');
    send(res, requestId, error.status, { 'content-type': 'application/json', ...error.headers }, body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<{ route: string; status: number }> {
    const received = new Date();
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    // Only the names of the loopback address: a web page on another name that resolves to 127.0.0.1
    // (DNS rebinding) would otherwise be same-origin with the local sign-in, where anyone may sign
    // in as any employee, and could read what it gets back.
    const port = (server.address() as AddressInfo | null)?.port;
    const host = String(req.headers.host ?? '').toLowerCase();
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      throw new GatewayError(421, 'misdirected-request', `this local API answers only to 127.0.0.1:${port} or localhost:${port}, not to the name ${host.slice(0, 100) || '(none)'}`);
    }
    if (options.serveOther !== undefined && !path.startsWith('/v1/') && (await options.serveOther(req, res))) {
      return { route: `${method} ${path.slice(0, 200)}`, status: res.statusCode };
    }
    const document = method === 'GET' && options.publicDocuments !== undefined && Object.hasOwn(options.publicDocuments, path) ? options.publicDocuments[path] : undefined;
    if (document !== undefined) {
      discardBody(req);
      send(res, requestId, 200, { 'content-type': 'application/json', 'cache-control': 'no-cache' }, Buffer.from(document, 'utf8'));
      return { route: `GET ${path}`, status: 200 };
    }
    const found = match(method, path);
    if (found.kind === 'none') throw new GatewayError(404, 'not-found', `no route matches ${method} ${path.slice(0, 200)}`);
    if (found.kind === 'wrong-method') {
      throw new GatewayError(405, 'method-not-allowed', `${path.slice(0, 200)} does not accept ${method}; it accepts ${found.allowed.join(', ')}`, {
        allow: found.allowed.join(', '),
      });
    }
    const { route } = found.match;
    const payload = await verifyToken(options.issuer, bearerToken(req));
    const scopes = scopesOf(payload);
    if (!route.scopes.some((s) => scopes.includes(s))) {
      throw new GatewayError(403, 'forbidden', `this route needs a token with one of these scopes: ${route.scopes.join(', ')}`, {
        'www-authenticate': 'Bearer error="insufficient_scope"',
      });
    }
    if (options.available && !options.available(route.function)) {
      throw new GatewayError(501, 'not-implemented', `the ${route.function} function is not part of this local stack yet`);
    }
    const raw = await readBody(req, limit);
    const event = buildEvent(req, found.match, payload, raw, requestId, options.account, received);
    let result: unknown;
    try {
      result = await options.invoke(route.function, event);
    } catch (error) {
      if (error instanceof FunctionInvocationError && error.failure === 'timeout') {
        note(`${requestId} ${route.function}: ${error.message}`);
        throw new GatewayError(503, 'unavailable', 'the service did not answer in time; retry the request', { 'retry-after': '1' });
      }
      note(`${requestId} ${route.function} failed: ${error instanceof Error ? error.message : String(error)}`);
      throw new GatewayError(500, 'internal', 'internal server error');
    }
    let response: ReturnType<typeof responseOf>;
    try {
      response = responseOf(result);
    } catch (error) {
      note(`${requestId} ${route.function}: ${error instanceof Error ? error.message : String(error)}`);
      throw new GatewayError(500, 'internal', 'internal server error');
    }
    send(res, requestId, response.status, response.headers, response.body);
    return { route: routeKey(route), status: response.status };
  }

  const server: Server = createServer((req, res) => {
    const requestId = newRequestId();
    const started = performance.now();
    handle(req, res, requestId)
      .then(
        ({ route, status }) => note(`${route} ${status} ${Math.round(performance.now() - started)} ms ${requestId}`),
        (error: unknown) => {
          const gatewayError =
            error instanceof GatewayError ? error : new GatewayError(500, 'internal', 'internal server error');
          if (!(error instanceof GatewayError)) note(`${requestId} gateway fault: ${error instanceof Error ? error.message : String(error)}`);
          if (res.headersSent) {
            res.destroy();
            return;
          }
          discardBody(req);
          sendError(res, requestId, gatewayError);
          note(`${req.method} ${(req.url ?? '').split('?')[0]?.slice(0, 200)} ${gatewayError.status} ${Math.round(performance.now() - started)} ms ${requestId}`);
        },
      )
      .catch(() => res.destroy());
  });
  keepIdleConnections(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(new Error(`port ${options.port ?? 3000} is already in use on 127.0.0.1; set PORT to a free port (PORT=0 picks one)`));
      } else reject(error);
    });
    server.listen(options.port ?? 3000, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
