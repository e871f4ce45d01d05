// Attacks on the local S3 front (local/s3.ts): requests a role signs itself that the front must
// authorize as the object s3rver will really touch. The front authorizes a path-style
// `/bucket/key`, so anything that makes s3rver store under another bucket or another key
// (a Host naming a bucket, `..` segments, XML the front reads differently) escapes the policy.
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateIdentity, type LocalIdentity, type PrincipalName } from '../../local/principals.js';
import { LOCAL_RESOURCES } from '../../local/resource-names.js';
import { startLocalS3, type LocalS3 } from '../../local/s3.js';
import { loadTemplatePolicies } from '../../local/template-policies.js';
import { NodeSha256 } from '../support/signed-fetch.js';

const { captures, exports } = LOCAL_RESOURCES.buckets;
let dir: string;
let identity: LocalIdentity;
let s3: LocalS3;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cc-s3-attack-'));
  identity = loadOrCreateIdentity(join(dir, 'principals.json'), await loadTemplatePolicies());
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: [captures, exports], identity });
}, 30_000);
afterAll(async () => {
  await s3?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function client(principal: PrincipalName): S3Client {
  const { accessKeyId, secretAccessKey } = identity.principals[principal];
  return new S3Client({ endpoint: s3.url, region: identity.region, credentials: { accessKeyId, secretAccessKey }, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', maxAttempts: 1 });
}

/** The keys the admin can see in a bucket (admin has AdministratorAccess). */
async function keysIn(bucket: string): Promise<string[]> {
  const listed = await client('admin').send(new ListObjectsV2Command({ Bucket: bucket }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '');
}

/**
 * Sends a request signed by `principal` exactly as given: the raw path (not normalised, as
 * fetch's URL parser would), and any Host header. Signed as S3 signs: the path as sent.
 */
async function rawSigned(
  principal: PrincipalName,
  method: string,
  rawPath: string,
  body: string,
  headers: Record<string, string> = {},
  /** The path as the signer canonicalises it, when the raw path is sent encoded otherwise. @default rawPath */
  signedPath = rawPath,
): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(s3.url);
  const { accessKeyId, secretAccessKey } = identity.principals[principal];
  const signer = new SignatureV4({ service: 's3', region: identity.region, credentials: { accessKeyId, secretAccessKey }, sha256: NodeSha256, uriEscapePath: false });
  const [path = '/', query = ''] = signedPath.split('?');
  const signed = await signer.sign({
    method,
    protocol: 'http:',
    hostname,
    port: Number(port),
    path,
    query: Object.fromEntries(query === '' ? [] : query.split('&').map((p) => [p.split('=')[0] ?? '', p.split('=')[1] ?? ''])),
    headers: { host: `${hostname}:${port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...headers },
    body,
  });
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port: Number(port), method, path: rawPath, headers: signed.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the S3 front authorizes the object s3rver really writes', () => {
  it('stores a write whose Host names another bucket where the front authorized it (s3rver reads `<bucket>.s3.amazonaws.com` as virtual-hosted)', async () => {
    // ingest may PutObject only on <captures>/captures/*. With this Host s3rver (whose vhostBuckets:
    // false does not cover *.s3.amazonaws.com) stores the whole path as a key in the exports bucket.
    const answer = await rawSigned('ingest', 'PUT', `/${captures}/captures/e-1/vhost`, 'planted', { host: `${exports}.s3.amazonaws.com` });

    expect(await keysIn(exports)).not.toContain(`${captures}/captures/e-1/vhost`);
    expect(answer.status).toBe(200);
    expect(await keysIn(captures)).toContain('captures/e-1/vhost');
  });

  it('refuses a key with `..` segments, which s3rver would resolve on its file system', async () => {
    const answer = await rawSigned('ingest', 'PUT', `/${captures}/captures/../../${exports}/exports/e-2/planted`, 'planted');

    expect(await keysIn(exports)).not.toContain('exports/e-2/planted');
    expect(answer).toMatchObject({ status: 400, text: expect.stringContaining('<Code>InvalidURI</Code>') });
  });

  it('refuses a key with percent-encoded `..` segments', async () => {
    const path = `/${captures}/captures/%2E%2E/%2E%2E/${exports}/exports/e-2/planted2`;
    const answer = await rawSigned('ingest', 'PUT', path, 'planted', {}, path.replace(/%2E/g, '.'));

    expect(await keysIn(exports)).not.toContain('exports/e-2/planted2');
    expect(answer).toMatchObject({ status: 400, text: expect.stringContaining('<Code>InvalidURI</Code>') });
  });

  it('refuses a DeleteObjects body whose <Key> has a space the front would not read as a key', async () => {
    // purge may delete only under captures/ and exports/; a key elsewhere in the captures bucket is out of its reach.
    await client('admin').send(new PutObjectCommand({ Bucket: captures, Key: 'elsewhere/keep', Body: 'x' }));
    const xml = '<Delete><Object><Key>captures/e-1/a</Key></Object><Object><Key >elsewhere/keep</Key ></Object></Delete>';

    const answer = await rawSigned('purge', 'POST', `/${captures}?delete`, xml, { 'content-type': 'application/xml' });

    expect(await keysIn(captures)).toContain('elsewhere/keep');
    expect(answer).toMatchObject({ status: 400, text: expect.stringContaining('<Code>MalformedXML</Code>') });
  });

  it('refuses a DeleteObjects body whose <Key> carries an attribute', async () => {
    await client('admin').send(new PutObjectCommand({ Bucket: captures, Key: 'elsewhere/keep2', Body: 'x' }));
    const xml = '<Delete><Object><Key>captures/e-1/a</Key></Object><Object><Key a="1">elsewhere/keep2</Key></Object></Delete>';

    const answer = await rawSigned('purge', 'POST', `/${captures}?delete`, xml, { 'content-type': 'application/xml' });

    expect(await keysIn(captures)).toContain('elsewhere/keep2');
    expect(answer).toMatchObject({ status: 400, text: expect.stringContaining('<Code>MalformedXML</Code>') });
  });
});

describe('what the stricter front still lets through', () => {
  it('deletes with the DeleteObjects body the SDK writes (xmlns, Quiet), as the purge does', async () => {
    await client('admin').send(new PutObjectCommand({ Bucket: captures, Key: 'captures/e-9/a&b <c>', Body: 'x' }));

    await client('purge').send(new DeleteObjectsCommand({ Bucket: captures, Delete: { Objects: [{ Key: 'captures/e-9/a&b <c>' }], Quiet: true } }));

    expect(await keysIn(captures)).not.toContain('captures/e-9/a&b <c>');
  });

  it('still refuses a DeleteObjects key out of reach when the body is well-formed', async () => {
    await client('admin').send(new PutObjectCommand({ Bucket: captures, Key: 'elsewhere/keep3', Body: 'x' }));

    await expect(client('purge').send(new DeleteObjectsCommand({ Bucket: captures, Delete: { Objects: [{ Key: 'captures/e-9/b' }, { Key: 'elsewhere/keep3' }] } }))).rejects.toMatchObject({ name: 'AccessDenied' });
    expect(await keysIn(captures)).toContain('elsewhere/keep3');
  });
});
