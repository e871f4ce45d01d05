// What IAM checks for a path-style S3 request: the action from method, path and query, on the
// bucket ARN (`arn:aws:s3:::bucket`) or the object ARN (`arn:aws:s3:::bucket/key`), with the
// condition keys S3 sets (s3:prefix, s3:max-keys, s3:delimiter on ListBucket). Pure: the local S3
// front (local/s3.ts) feeds it the decoded request.
import type { PolicyValue } from '../kms/policy-evaluator.js';

export interface S3Request {
  readonly method: string;
  /** Decoded path, `/bucket/key`. */
  readonly path: string;
  /** Decoded query parameters, in the order received. */
  readonly query: readonly (readonly [string, string])[];
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export interface S3Access {
  readonly action: string;
  /** The bucket whose policy applies, or undefined for ListAllMyBuckets. */
  readonly bucket: string | undefined;
  readonly resource: string;
  readonly context: Readonly<Record<string, PolicyValue>>;
}

export class S3RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const bucketArn = (bucket: string): string => `arn:aws:s3:::${bucket}`;
const objectArn = (bucket: string, key: string): string => `arn:aws:s3:::${bucket}/${key}`;

function header(headers: S3Request['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** Bucket sub-resources by query parameter, and the action each takes for GET, PUT and DELETE. */
const BUCKET_SUBRESOURCES: Readonly<Record<string, Partial<Record<string, string>>>> = {
  location: { GET: 's3:GetBucketLocation' },
  policy: { GET: 's3:GetBucketPolicy', PUT: 's3:PutBucketPolicy', DELETE: 's3:DeleteBucketPolicy' },
  acl: { GET: 's3:GetBucketAcl', PUT: 's3:PutBucketAcl' },
  cors: { GET: 's3:GetBucketCORS', PUT: 's3:PutBucketCORS', DELETE: 's3:PutBucketCORS' },
  lifecycle: { GET: 's3:GetLifecycleConfiguration', PUT: 's3:PutLifecycleConfiguration', DELETE: 's3:PutLifecycleConfiguration' },
  versioning: { GET: 's3:GetBucketVersioning', PUT: 's3:PutBucketVersioning' },
  tagging: { GET: 's3:GetBucketTagging', PUT: 's3:PutBucketTagging', DELETE: 's3:PutBucketTagging' },
  website: { GET: 's3:GetBucketWebsite', PUT: 's3:PutBucketWebsite', DELETE: 's3:DeleteBucketWebsite' },
  uploads: { GET: 's3:ListBucketMultipartUploads' },
  versions: { GET: 's3:ListBucketVersions' },
  encryption: { GET: 's3:GetEncryptionConfiguration', PUT: 's3:PutEncryptionConfiguration' },
  'public-access-block': { GET: 's3:GetBucketPublicAccessBlock', PUT: 's3:PutBucketPublicAccessBlock' },
  ownershipControls: { GET: 's3:GetBucketOwnershipControls', PUT: 's3:PutBucketOwnershipControls' },
  logging: { GET: 's3:GetBucketLogging', PUT: 's3:PutBucketLogging' },
  notification: { GET: 's3:GetBucketNotification', PUT: 's3:PutBucketNotification' },
};

const MALFORMED_XML = 'The XML you provided was not well-formed or did not validate against our published schema';
/** Text without markup: the five XML entities and character references, nothing s3rver's `he` would read otherwise. */
const XML_TEXT = String.raw`(?:[^<&]|&(?:lt|gt|amp|quot|apos|#\d{1,7}|#x[0-9a-fA-F]{1,6});)*`;
/**
 * DeleteObjects as the SDK writes it and nothing else. s3rver parses the body again with its own
 * XML parser, so anything this does not read exactly (a `<Key a="1">`, `<Key >`, CDATA, comments)
 * is refused rather than left for s3rver to read as a key nobody authorized.
 */
const DELETE_BODY = new RegExp(
  String.raw`^\s*(?:<\?xml[^?>]*\?>\s*)?<Delete(?:\s+xmlns="[^"<>&]*")?\s*>\s*` +
    String.raw`(?:(?:<Object>\s*<Key>${XML_TEXT}</Key>\s*(?:<VersionId>${XML_TEXT}</VersionId>\s*)?</Object>|<Quiet>(?:true|false)</Quiet>)\s*)+` +
    String.raw`</Delete>\s*$`,
);

function xmlText(raw: string): string {
  return raw.replace(/&(lt|gt|amp|quot|apos|#(\d+)|#x([0-9a-fA-F]+));/g, (entity, name: string, dec?: string, hex?: string) => {
    if (dec !== undefined) return String.fromCodePoint(Number(dec));
    if (hex !== undefined) return String.fromCodePoint(parseInt(hex, 16));
    return ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" } as Record<string, string>)[name] ?? entity;
  });
}

/** The keys of a DeleteObjects body: `<Delete><Object><Key>k</Key></Object>…</Delete>`. */
function keysToDelete(body: Buffer): string[] {
  const xml = body.toString('utf8');
  if (!DELETE_BODY.test(xml)) throw new S3RequestError('MalformedXML', MALFORMED_XML);
  return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map(([, raw = '']) => checkedKey(xmlText(raw)));
}

/**
 * s3rver stores a key as a file path (path.join of its segments), so a `.` or `..` segment would
 * reach another key, or another bucket, than the one authorized. AWS keeps such keys literally;
 * the local S3 cannot, and refuses them.
 */
function checkedKey(key: string): string {
  if (key.split('/').some((segment) => segment === '.' || segment === '..')) {
    throw new S3RequestError('InvalidURI', "Couldn't parse the specified URI: a key with a '.' or '..' segment is not supported by the local S3.");
  }
  return key;
}

/** A copy's source (`x-amz-copy-source: /bucket/key` or `bucket/key`, URL-encoded). */
function copySource(value: string): S3Access {
  let decoded: string;
  try {
    decoded = decodeURIComponent(value.split('?')[0] ?? '');
  } catch {
    throw new S3RequestError('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey');
  }
  const trimmed = decoded.startsWith('/') ? decoded.slice(1) : decoded;
  const slash = trimmed.indexOf('/');
  if (slash <= 0 || slash === trimmed.length - 1) {
    throw new S3RequestError('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey');
  }
  const bucket = trimmed.slice(0, slash);
  return { action: 's3:GetObject', bucket, resource: objectArn(bucket, checkedKey(trimmed.slice(slash + 1))), context: {} };
}

/** Every (action, resource) the request needs; all must be allowed. */
export function s3AccessOf(request: S3Request): S3Access[] {
  const method = request.method.toUpperCase();
  const params = new Map(request.query);
  const path = request.path.startsWith('/') ? request.path.slice(1) : request.path;
  const slash = path.indexOf('/');
  const bucket = slash === -1 ? path : path.slice(0, slash);
  const key = checkedKey(slash === -1 ? '' : path.slice(slash + 1));
  if (bucket === '') {
    return [{ action: method === 'GET' ? 's3:ListAllMyBuckets' : 's3:UnsupportedServiceRequest', bucket: undefined, resource: '*', context: {} }];
  }
  const onBucket = (action: string, context: Record<string, PolicyValue> = {}): S3Access[] => [{ action, bucket, resource: bucketArn(bucket), context }];
  const onObject = (action: string, context: Record<string, PolicyValue> = {}): S3Access[] => [{ action, bucket, resource: objectArn(bucket, key), context }];

  if (key === '') {
    if (method === 'POST' && params.has('delete')) {
      return keysToDelete(request.body).map((k) => ({ action: 's3:DeleteObject', bucket, resource: objectArn(bucket, k), context: {} }));
    }
    for (const [name, actions] of Object.entries(BUCKET_SUBRESOURCES)) {
      if (params.has(name)) return onBucket(actions[method] ?? `s3:Unsupported${name}`);
    }
    if (method === 'GET' || method === 'HEAD') {
      // ListObjects(V2) and HeadBucket are s3:ListBucket; the listing's parameters are condition keys.
      const context: Record<string, PolicyValue> = {};
      for (const [param, conditionKey] of [
        ['prefix', 's3:prefix'],
        ['delimiter', 's3:delimiter'],
        ['max-keys', 's3:max-keys'],
      ] as const) {
        const value = params.get(param);
        if (method === 'GET' && value !== undefined) context[conditionKey] = value;
      }
      return onBucket('s3:ListBucket', context);
    }
    if (method === 'PUT') return onBucket('s3:CreateBucket');
    if (method === 'DELETE') return onBucket('s3:DeleteBucket');
    return onBucket('s3:UnsupportedBucketRequest');
  }

  const uploadId = params.get('uploadId');
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (params.has('acl')) return onObject(params.has('versionId') ? 's3:GetObjectVersionAcl' : 's3:GetObjectAcl');
      if (params.has('tagging')) return onObject(params.has('versionId') ? 's3:GetObjectVersionTagging' : 's3:GetObjectTagging');
      if (uploadId !== undefined) return onObject('s3:ListMultipartUploadParts');
      // HeadObject is authorized as GetObject.
      return onObject(params.has('versionId') ? 's3:GetObjectVersion' : 's3:GetObject');
    case 'PUT': {
      if (params.has('acl')) return onObject('s3:PutObjectAcl');
      if (params.has('tagging')) return onObject('s3:PutObjectTagging');
      // PutObject, CopyObject and UploadPart(Copy) are s3:PutObject; a copy also reads its source.
      const context: Record<string, PolicyValue> = {};
      const acl = header(request.headers, 'x-amz-acl');
      if (acl !== undefined) context['s3:x-amz-acl'] = acl;
      const sse = header(request.headers, 'x-amz-server-side-encryption');
      if (sse !== undefined) context['s3:x-amz-server-side-encryption'] = sse;
      const source = header(request.headers, 'x-amz-copy-source');
      return [...onObject('s3:PutObject', context), ...(source === undefined ? [] : [copySource(source)])];
    }
    case 'POST':
      // CreateMultipartUpload (?uploads) and CompleteMultipartUpload (?uploadId) are s3:PutObject.
      if (params.has('uploads') || uploadId !== undefined) return onObject('s3:PutObject');
      return onObject('s3:UnsupportedObjectRequest');
    case 'DELETE':
      if (uploadId !== undefined) return onObject('s3:AbortMultipartUpload');
      if (params.has('tagging')) return onObject('s3:DeleteObjectTagging');
      return onObject(params.has('versionId') ? 's3:DeleteObjectVersion' : 's3:DeleteObject');
    default:
      return onObject('s3:UnsupportedObjectRequest');
  }
}
