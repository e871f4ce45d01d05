// Verifies AWS Signature Version 4 on incoming requests, so every caller of the local KMS is a
// known principal, exactly as in AWS. Written here rather than taken from @smithy/signature-v4
// because that signer chooses which headers to sign; a verifier must sign exactly the headers
// the client listed. The SDK and the AWS CLI (two independent signers) are tested against it.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { KmsException } from './errors.js';

export interface SignedRequest {
  readonly method: string;
  /** Path and query as received, e.g. `/` or `/?a=b`. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export interface VerifiedCaller {
  readonly accessKeyId: string;
  readonly region: string;
  readonly service: string;
}

/** AWS rejects signatures more than 5 minutes from its clock ("Signature expired"). */
const MAX_SKEW_MS = 5 * 60 * 1000;

const AUTH_PATTERN =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/;

/** Derived signing keys by secret and scope: they change once a day, so 4 of 5 HMACs are cached. */
const signingKeys = new Map<string, Buffer>();
const MAX_CACHED_SIGNING_KEYS = 1024;

function signingKeyFor(secret: string, date: string, region: string, service: string): Buffer {
  const cacheKey = `${secret}\n${date}\n${region}\n${service}`;
  let key = signingKeys.get(cacheKey);
  if (!key) {
    key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
    if (signingKeys.size >= MAX_CACHED_SIGNING_KEYS) signingKeys.clear();
    signingKeys.set(cacheKey, key);
  }
  return key;
}

const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

function header(headers: SignedRequest['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters. */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalPath(path: string): string {
  if (path === '' || path === '/') return '/';
  // Non-S3 services normalise the path and encode each segment twice; clients send it once-encoded.
  return path
    .split('/')
    .map((segment) => uriEncode(segment))
    .join('/');
}

function canonicalQuery(query: string): string {
  if (query === '') return '';
  return query
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const [k = '', v = ''] = pair.split('=', 2);
      return [uriEncode(decodeURIComponent(k)), uriEncode(decodeURIComponent(v))] as const;
    })
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  return new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
}

/**
 * Checks the signature; `secretOf` maps an access key id to its secret, or undefined if unknown.
 * Throws the exception AWS would answer with. Skew is measured against the wall clock, not the
 * KMS's adjustable clock: signing time is the client's transport concern, not a policy input.
 */
export function verifySigV4(
  request: SignedRequest,
  secretOf: (accessKeyId: string) => string | undefined,
  wallClock: Date = new Date(),
): VerifiedCaller {
  const authorization = header(request.headers, 'authorization');
  if (authorization === undefined) {
    throw new KmsException('MissingAuthenticationTokenException', 'Missing Authentication Token');
  }
  const match = AUTH_PATTERN.exec(authorization.trim());
  if (!match) {
    throw new KmsException(
      'IncompleteSignatureException',
      "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters for AWS4-HMAC-SHA256.",
    );
  }
  const [, accessKeyId = '', date = '', region = '', service = '', signedHeaderList = '', signature = ''] = match;
  const secret = secretOf(accessKeyId);
  if (secret === undefined) {
    throw new KmsException('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  const amzDate = header(request.headers, 'x-amz-date');
  const signedAt = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (amzDate === undefined || signedAt === undefined || !amzDate.startsWith(date)) {
    throw new KmsException('IncompleteSignatureException', 'The request must contain a valid X-Amz-Date header matching the credential scope date.');
  }
  if (Math.abs(wallClock.getTime() - signedAt.getTime()) > MAX_SKEW_MS) {
    throw new KmsException('InvalidSignatureException', `Signature expired: ${amzDate} is now earlier or later than 5 minutes from the server's time.`);
  }
  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.includes('host')) {
    throw new KmsException('IncompleteSignatureException', "'Host' must be a signed header.");
  }
  const payloadHash = sha256Hex(request.body);
  const declaredHash = header(request.headers, 'x-amz-content-sha256');
  if (declaredHash !== undefined && declaredHash !== payloadHash && declaredHash !== 'UNSIGNED-PAYLOAD') {
    throw new KmsException('InvalidSignatureException', 'The provided x-amz-content-sha256 header does not match what was computed.');
  }

  const queryAt = request.url.indexOf('?');
  const path = queryAt === -1 ? request.url : request.url.slice(0, queryAt);
  const query = queryAt === -1 ? '' : request.url.slice(queryAt + 1);
  const canonicalHeaders = signedHeaders
    .map((name) => `${name}:${(header(request.headers, name) ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalPath(decodeURIComponent(path)),
    canonicalQuery(query),
    canonicalHeaders,
    signedHeaderList,
    declaredHash ?? payloadHash,
  ].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signingKey = signingKeyFor(secret, date, region, service);
  const expected = createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest();
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new KmsException(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return { accessKeyId, region, service };
}
