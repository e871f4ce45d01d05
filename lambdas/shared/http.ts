// The HTTP edge shared by API functions: who is calling (JWT claims), body parsing with zod,
// and the single place where errors become responses.
import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type * as z from '../../contract/zod.js';
import { ApiError, BadRequestError, ForbiddenError, PayloadTooLargeError, UnauthorizedError, type ErrorDetail } from './errors.js';
import type { RequestEvidence } from './consent-state.js';
import { ID_PATTERN } from './ids.js';

export type HttpEvent = APIGatewayProxyEventV2WithJWTAuthorizer;
export type HttpResult = APIGatewayProxyStructuredResultV2;

/** Who is calling, as the verified token says: for people who are not employees (HR), this is all there is. */
export interface Identity {
  /** The token's `iss`: who vouches for the caller. */
  readonly issuer: string;
  /** The token's `sub`: the caller's id at that issuer (not necessarily an employee id). */
  readonly subject: string;
  readonly scopes: ReadonlySet<string>;
}

export interface Caller extends Identity {
  /** The employee the token speaks for: only ever taken from the token, never from a body. */
  readonly employeeId: string;
}

/** Bounds a subject we record on ledger events; an IdP's `sub` is at most 255 ASCII characters in practice. */
const SUBJECT_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** Reads the verified JWT claims that API Gateway's authorizer put on the event. */
export function identityOf(event: HttpEvent): Identity {
  const jwt = event.requestContext?.authorizer?.jwt;
  if (!jwt) throw new UnauthorizedError('a bearer token is required');
  const issuer = jwt.claims['iss'];
  if (typeof issuer !== 'string' || issuer === '') throw new UnauthorizedError('the token names no issuer');
  const subject = jwt.claims['sub'];
  if (typeof subject !== 'string' || !SUBJECT_PATTERN.test(subject)) {
    throw new ForbiddenError('the token\'s sub claim must be 1-255 printable characters without spaces', 'invalid-subject');
  }
  const scopes = new Set<string>(Array.isArray(jwt.scopes) ? jwt.scopes.filter((s) => typeof s === 'string') : []);
  for (const claim of SCOPE_CLAIMS) for (const s of scopesOfClaim(jwt.claims[claim])) scopes.add(s);
  return { issuer, subject, scopes };
}

/**
 * The calling employee: the identity, plus the employee id claim, which must be a pseudonymous id
 * (it goes into encryption contexts and so into CloudTrail). HR's routes use identityOf instead.
 */
export function callerOf(event: HttpEvent, employeeIdClaim: string): Caller {
  const jwt = event.requestContext?.authorizer?.jwt;
  if (!jwt) throw new UnauthorizedError('a bearer token is required');
  const employeeId = jwt.claims[employeeIdClaim];
  if (typeof employeeId !== 'string' || !ID_PATTERN.test(employeeId)) {
    throw new ForbiddenError(`the token's ${employeeIdClaim} claim must be a pseudonymous id matching ${ID_PATTERN.source}`, 'invalid-employee-id');
  }
  return { ...identityOf(event), employeeId };
}

/** `scope` (RFC 8693, Cognito, our local issuer) and `scp` (Entra ID, Okta); API Gateway checks either. */
const SCOPE_CLAIMS = ['scope', 'scp'] as const;

/**
 * The scopes in one claim as API Gateway v2 hands claims to a function: a space-separated string
 * (`"a b"`, Entra ID's `scp`), or a JSON array flattened to the string `"[a b]"` (Okta's `scp`).
 * An actual array is accepted too (a direct invocation or a future event format). Anything else
 * adds nothing: a scope is never guessed.
 */
export function scopesOfClaim(claim: unknown): string[] {
  if (Array.isArray(claim)) return claim.filter((s): s is string => typeof s === 'string' && s !== '' && !/\s/.test(s));
  if (typeof claim !== 'string') return [];
  const trimmed = claim.trim();
  const listed = trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed;
  return listed.split(/[\s,]+/).filter((s) => s !== '');
}

/** A `jti` we record: any printable ASCII, bounded, as IdPs issue (UUIDs, base64url). */
const JTI_PATTERN = /^[\x21-\x7e]{1,256}$/;

/**
 * The evidence of the request for the ledger: the token's `jti` and `iat` and a SHA-256 (hex) of
 * the exact bearer token sent (API Gateway passes the Authorization header on). Never the token:
 * a ledger reader must not be able to replay it.
 */
export function evidenceOf(event: HttpEvent): RequestEvidence {
  const header = event.headers?.['authorization'] ?? event.headers?.['Authorization'];
  const token = header === undefined ? undefined : /^Bearer ([^\s,]+)$/i.exec(header)?.[1];
  if (token === undefined) throw new UnauthorizedError('a bearer token is required');
  const claims = event.requestContext?.authorizer?.jwt?.claims ?? {};
  const jti = claims['jti'];
  // API Gateway hands every claim over as a string; a number is accepted too (tests, other fronts).
  const iatClaim = claims['iat'];
  const iat = typeof iatClaim === 'number' ? iatClaim : typeof iatClaim === 'string' && /^\d{1,12}$/.test(iatClaim) ? Number(iatClaim) : null;
  return {
    jti: typeof jti === 'string' && JTI_PATTERN.test(jti) ? jti : null,
    iat: iat !== null && Number.isSafeInteger(iat) ? iat : null,
    tokenSha256: createHash('sha256').update(token, 'utf8').digest('hex'),
  };
}

/** The gateway already checks route scopes; handlers check again so a misrouted call still fails closed. */
export function requireScope(caller: Identity, ...accepted: string[]): void {
  if (!accepted.some((scope) => caller.scopes.has(scope))) {
    throw new ForbiddenError(`this action needs the ${accepted.join(' or ')} scope`);
  }
}

/** The body as text and its size in bytes, without copying a text body into a Buffer. */
export function bodyText(event: HttpEvent): { readonly text: string; readonly bytes: number } {
  const body = event.body ?? '';
  if (event.isBase64Encoded) {
    const decoded = Buffer.from(body, 'base64');
    return { text: decoded.toString('utf8'), bytes: decoded.length };
  }
  return { text: body, bytes: Buffer.byteLength(body, 'utf8') };
}

export function zodDetails(error: z.core.$ZodError): ErrorDetail[] {
  return error.issues.slice(0, 20).map((issue) => ({ path: issue.path.map(String).join('.') || '(body)', message: issue.message }));
}

/** Parses a JSON body of at most `maxBytes` with `schema`; an absent body parses as `{}`. */
export function parseBody<S extends z.ZodMiniType>(event: HttpEvent, schema: S, maxBytes: number): z.infer<S> {
  const body = bodyText(event);
  if (body.bytes > maxBytes) throw new PayloadTooLargeError(`the body is ${body.bytes} bytes; the limit is ${maxBytes}`);
  let json: unknown = {};
  if (body.bytes > 0) {
    try {
      json = JSON.parse(body.text);
    } catch {
      throw new BadRequestError('the body is not valid JSON', undefined, 'invalid-json');
    }
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new BadRequestError('the body does not match the contract', zodDetails(parsed.error), 'invalid-body');
  return parsed.data;
}

export function jsonResponse(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

/** The one mapping from errors to responses. Unknown errors are logged and answered generically. */
export function errorResponse(error: unknown, logger: Logger): HttpResult {
  if (error instanceof ApiError) {
    if (error.status >= 500) logger.warn('request failed on a dependency', { code: error.code, cause: causeName(error) });
    const headers: Record<string, string> = error.retryAfterSeconds === undefined ? {} : { 'retry-after': String(error.retryAfterSeconds) };
    return jsonResponse(
      error.status,
      {
        error: error.code,
        message: error.message,
        ...(error.details === undefined ? {} : { details: error.details }),
        ...(error.retryAfterSeconds === undefined ? {} : { retryable: true }),
      },
      headers,
    );
  }
  logger.error('unhandled error', error instanceof Error ? error : String(error));
  return jsonResponse(500, { error: 'internal', message: 'an internal error occurred; it has been logged' });
}

function causeName(error: Error): string | undefined {
  return error.cause instanceof Error ? error.cause.name : undefined;
}
