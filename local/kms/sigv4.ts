// Verifies AWS Signature Version 4 on incoming requests, so every caller of the local KMS, S3,
// DynamoDB and SQS is a known principal, exactly as in AWS. Written here rather than taken from @smithy/signature-v4
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
  /** How the request was signed: in the Authorization header, or in the query string (a presigned URL). */
  readonly authType: 'header' | 'query';
  readonly signedAt: Date;
}

export interface VerifyOptions {
  /**
   * Accept `x-amz-content-sha256: UNSIGNED-PAYLOAD` and presigned URLs (SigV4 in the query string).
   * AWS allows both for S3 only; every other service signs the body's hash in the header.
   * @default false
   */
  readonly s3?: boolean;
  /** @default - the wall clock */
  readonly now?: Date;
}

/** Why a signature was refused, so each service can answer in its own error shape. */
export type SigV4Failure =
  | 'missing'
  | 'incomplete'
  | 'unknown-key'
  | 'mismatch'
  | 'skewed'
  | 'expired'
  | 'payload-hash'
  | 'unsigned-payload'
  | 'streaming-payload'
  | 'malformed-uri';

/** A KmsException (what the local KMS answers) that also says why, for the other fronts' mappings. */
export class SigV4Error extends KmsException {
  constructor(
    readonly failure: SigV4Failure,
    type: ConstructorParameters<typeof KmsException>[0],
    message: string,
  ) {
    super(type, message);
  }
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

/** decodeURIComponent, but a malformed escape (`%zz`) is the caller's fault (a 4xx), not ours. */
function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new SigV4Error('malformed-uri', 'InvalidSignatureException', 'The request path or query string holds a malformed percent-encoding.');
  }
}

function canonicalPath(path: string): string {
  if (path === '' || path === '/') return '/';
  // Each segment once-encoded, as clients send it (S3 object keys included).
  return path
    .split('/')
    .map((segment) => uriEncode(segment))
    .join('/');
}

/** Query parameters, decoded, in the order received. */
function parseQuery(query: string): [string, string][] {
  if (query === '') return [];
  return query
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const at = pair.indexOf('=');
      const k = at === -1 ? pair : pair.slice(0, at);
      const v = at === -1 ? '' : pair.slice(at + 1);
      // A form-encoded `+` is a space only in forms; SigV4 clients encode a space as %20.
      return [decode(k), decode(v)];
    });
}

function canonicalQuery(params: readonly (readonly [string, string])[]): string {
  return params
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : av > bv ? 1 : 0) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** A request URL's path and query, decoded (a malformed escape throws a SigV4Error 'malformed-uri'). */
export function decodeUrl(url: string): { path: string; query: [string, string][] } {
  const queryAt = url.indexOf('?');
  return {
    path: decode(queryAt === -1 ? url : url.slice(0, queryAt)),
    query: parseQuery(queryAt === -1 ? '' : url.slice(queryAt + 1)),
  };
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  return new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
}

const CREDENTIAL_PATTERN = /^([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request$/;
/** S3's limit on X-Amz-Expires: seven days. */
const MAX_PRESIGNED_SECONDS = 604_800;

interface Signature {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaderList: string;
  readonly signature: string;
  readonly amzDate: string | undefined;
  /** For a presigned URL: seconds from amzDate. */
  readonly expiresSeconds?: number;
}

function fromHeader(authorization: string, headers: SignedRequest['headers']): Signature {
  const match = AUTH_PATTERN.exec(authorization.trim());
  if (!match) {
    throw new SigV4Error(
      'incomplete',
      'IncompleteSignatureException',
      "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters for AWS4-HMAC-SHA256.",
    );
  }
  const [, accessKeyId = '', date = '', region = '', service = '', signedHeaderList = '', signature = ''] = match;
  return { accessKeyId, date, region, service, signedHeaderList, signature, amzDate: header(headers, 'x-amz-date') };
}

function fromQuery(params: ReadonlyMap<string, string>): Signature {
  const incomplete = (what: string): SigV4Error =>
    new SigV4Error('incomplete', 'IncompleteSignatureException', `A presigned URL needs ${what} (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature).`);
  if (params.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') throw incomplete('X-Amz-Algorithm=AWS4-HMAC-SHA256');
  const credential = CREDENTIAL_PATTERN.exec(params.get('X-Amz-Credential') ?? '');
  if (!credential) throw incomplete('a valid X-Amz-Credential');
  const [, accessKeyId = '', date = '', region = '', service = ''] = credential;
  const signedHeaderList = params.get('X-Amz-SignedHeaders') ?? '';
  const signature = params.get('X-Amz-Signature') ?? '';
  if (!/^[a-z0-9;_.-]+$/.test(signedHeaderList)) throw incomplete('X-Amz-SignedHeaders');
  if (!/^[0-9a-f]{64}$/.test(signature)) throw incomplete('a valid X-Amz-Signature');
  const expires = params.get('X-Amz-Expires') ?? '';
  if (!/^\d{1,7}$/.test(expires) || Number(expires) < 1 || Number(expires) > MAX_PRESIGNED_SECONDS) {
    throw incomplete(`X-Amz-Expires from 1 to ${MAX_PRESIGNED_SECONDS}`);
  }
  return { accessKeyId, date, region, service, signedHeaderList, signature, amzDate: params.get('X-Amz-Date'), expiresSeconds: Number(expires) };
}

const PAYLOAD_MISMATCH = 'The provided x-amz-content-sha256 header does not match what was computed.';

/**
 * Checks the signature; `secretOf` maps an access key id to its secret, or undefined if unknown.
 * Throws the exception AWS would answer with (a SigV4Error, whose `failure` says why). Skew and a
 * presigned URL's expiry are measured against the wall clock, not the KMS's adjustable clock:
 * signing time is the client's transport concern, not a policy input.
 */
export function verifySigV4(request: SignedRequest, secretOf: (accessKeyId: string) => string | undefined, options: VerifyOptions = {}): VerifiedCaller {
  const now = options.now ?? new Date();
  const { path, query: params } = decodeUrl(request.url);
  const authorization = header(request.headers, 'authorization');
  const presigned = authorization === undefined && params.some(([k]) => k === 'X-Amz-Algorithm');
  if (authorization === undefined && !(presigned && options.s3 === true)) {
    throw new SigV4Error('missing', 'MissingAuthenticationTokenException', 'Missing Authentication Token');
  }
  const sig = presigned ? fromQuery(new Map(params)) : fromHeader(authorization ?? '', request.headers);
  const secret = secretOf(sig.accessKeyId);
  if (secret === undefined) {
    throw new SigV4Error('unknown-key', 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  }
  const signedAt = sig.amzDate === undefined ? undefined : parseAmzDate(sig.amzDate);
  if (sig.amzDate === undefined || signedAt === undefined || !sig.amzDate.startsWith(sig.date)) {
    throw new SigV4Error('incomplete', 'IncompleteSignatureException', 'The request must contain a valid X-Amz-Date matching the credential scope date.');
  }
  if (sig.expiresSeconds === undefined ? Math.abs(now.getTime() - signedAt.getTime()) > MAX_SKEW_MS : signedAt.getTime() - now.getTime() > MAX_SKEW_MS) {
    throw new SigV4Error('skewed', 'InvalidSignatureException', `Signature expired: ${sig.amzDate} is now earlier or later than 5 minutes from the server's time.`);
  }
  const signedHeaders = sig.signedHeaderList.split(';');
  if (!signedHeaders.includes('host')) {
    throw new SigV4Error('incomplete', 'IncompleteSignatureException', "'Host' must be a signed header.");
  }

  const declaredHash = header(request.headers, 'x-amz-content-sha256');
  let payloadHash: string;
  if (presigned) {
    // A presigned URL cannot sign a body it has never seen.
    payloadHash = declaredHash ?? 'UNSIGNED-PAYLOAD';
  } else if (declaredHash === 'UNSIGNED-PAYLOAD') {
    if (options.s3 !== true) {
      throw new SigV4Error('unsigned-payload', 'InvalidSignatureException', 'x-amz-content-sha256: UNSIGNED-PAYLOAD is accepted by S3 only; sign the SHA-256 of the body.');
    }
    payloadHash = declaredHash;
  } else if (declaredHash !== undefined && declaredHash.startsWith('STREAMING-')) {
    throw new SigV4Error('streaming-payload', 'InvalidSignatureException', `x-amz-content-sha256: ${declaredHash.slice(0, 64)} (aws-chunked) is not supported here; sign the body's SHA-256 or use UNSIGNED-PAYLOAD.`);
  } else {
    payloadHash = sha256Hex(request.body);
    if (declaredHash !== undefined && declaredHash !== payloadHash) throw new SigV4Error('payload-hash', 'InvalidSignatureException', PAYLOAD_MISMATCH);
  }

  const canonicalHeaders = signedHeaders
    .map((name) => `${name}:${(header(request.headers, name) ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalPath(path),
    canonicalQuery(presigned ? params.filter(([k]) => k !== 'X-Amz-Signature') : params),
    canonicalHeaders,
    sig.signedHeaderList,
    payloadHash,
  ].join('\n');
  const scope = `${sig.date}/${sig.region}/${sig.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', sig.amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signingKey = signingKeyFor(secret, sig.date, sig.region, sig.service);
  const expected = createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest();
  const given = Buffer.from(sig.signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new SigV4Error(
      'mismatch',
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  // Checked after the signature, so that only the URL's own signer learns it has expired.
  if (sig.expiresSeconds !== undefined && now.getTime() > signedAt.getTime() + sig.expiresSeconds * 1000) {
    throw new SigV4Error('expired', 'InvalidSignatureException', 'Request has expired');
  }
  return { accessKeyId: sig.accessKeyId, region: sig.region, service: sig.service, authType: presigned ? 'query' : 'header', signedAt };
}
