// What the SigV4 + IAM fronts of the local DynamoDB and S3 cost per request: the same calls, in a
// sequential loop, through the front and straight to the emulator behind it. `npm run bench:iam`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startLocalDynamoDb } from '../../local/dynamodb.js';
import { loadOrCreateIdentity } from '../../local/principals.js';
import { loadTemplatePolicies } from '../../local/template-policies.js';
import { startLocalS3 } from '../../local/s3.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';
const CALLS = Number(process.env['BENCH_CALLS'] ?? 500);
const WARMUP = 50;

async function timeLoop(call: () => Promise<unknown>): Promise<{ meanMs: number; p50Ms: number; p99Ms: number }> {
  for (let i = 0; i < WARMUP; i += 1) await call();
  const samples: number[] = [];
  for (let i = 0; i < CALLS; i += 1) {
    const t0 = performance.now();
    await call();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number): number => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? Number.NaN;
  return { meanMs: samples.reduce((a, b) => a + b, 0) / samples.length, p50Ms: at(0.5), p99Ms: at(0.99) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cc-bench-iam-'));
  const identity = loadOrCreateIdentity(join(dir, 'principals.json'), await loadTemplatePolicies());
  const { admin } = identity.principals;
  const credentials = { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey };
  const dynamo = await startLocalDynamoDb({ dataDir: join(dir, 'dynamodb'), tables: ['bench'], region: identity.region, credentials: admin, identity });
  const s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['bench'], identity });
  const rows: [string, Awaited<ReturnType<typeof timeLoop>>][] = [];
  try {
    for (const [label, endpoint] of [['DynamoDB GetItem via front', dynamo.url], ['DynamoDB GetItem direct', dynamo.unauthenticatedUrl]] as const) {
      const client = new DynamoDBClient({ endpoint, region: identity.region, credentials });
      const Key = { pk: { S: 'e-1' }, sk: { S: 'state' } };
      await client.send(new PutItemCommand({ TableName: 'bench', Item: { ...Key, v: { S: 'x' } } }));
      rows.push([label, await timeLoop(() => client.send(new GetItemCommand({ TableName: 'bench', Key })))]);
      client.destroy();
    }
    for (const [label, endpoint] of [['S3 GetObject (1 KiB) via front', s3.url], ['S3 GetObject (1 KiB) direct', s3.unauthenticatedUrl]] as const) {
      // s3rver holds no access keys (the front forwards anonymously), so the direct client does not sign.
      const direct = endpoint === s3.unauthenticatedUrl;
      const client = new S3Client({
        endpoint,
        region: identity.region,
        credentials,
        forcePathStyle: true,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        ...(direct ? { signer: { sign: async (request) => request } } : {}),
      });
      await client.send(new PutObjectCommand({ Bucket: 'bench', Key: 'k', Body: Buffer.alloc(1024, 1) }));
      rows.push([label, await timeLoop(async () => (await client.send(new GetObjectCommand({ Bucket: 'bench', Key: 'k' }))).Body?.transformToByteArray())]);
      client.destroy();
    }
  } finally {
    await Promise.all([dynamo.close(), s3.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${CALLS} sequential calls each, after ${WARMUP} warm-up calls\n`);
  for (const [label, r] of rows) {
    process.stdout.write(`  ${label.padEnd(32)} mean ${r.meanMs.toFixed(2)} ms  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms\n`);
  }
}

await main();
