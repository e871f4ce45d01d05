// One measured run in its own process, so its peak RSS is its own: `floor` does the least any
// reader of these objects must (GetObject, and an AES-256-GCM pass over the same bytes under a
// local key, no KMS); `sdk` fetches and decrypts with the Encryption SDK through the grants, no
// parsing; `reader` streams the records through datasets/reader; `parquet` also writes the shards.
// All use the same concurrency. Prints one JSON line with the figures.
import { createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDecrypt } from '@aws-crypto/decrypt-node';
import { CommitmentPolicy } from '@aws-crypto/material-management-node';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DatasetReader, manifestEntries, ParquetShards } from '../../datasets/reader/index.js';
import { KeyringKmsClient, KmsKeyring } from '../../lambdas/shared/kms-keyring.js';

export interface ChildConfig {
  readonly mode: 'floor' | 'sdk' | 'reader' | 'parquet';
  readonly region: string;
  readonly account: string;
  readonly endpoints: { readonly kms: string; readonly s3: string };
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly manifest: string;
  readonly concurrency: number;
}

export interface ChildResult {
  readonly mode: ChildConfig['mode'];
  readonly ms: number;
  readonly objects: number;
  /** Bytes fetched from S3 (ciphertext). */
  readonly ciphertextBytes: number;
  /** JSON Lines bytes after decrypt and gunzip (reader and parquet only). */
  readonly plaintextBytes: number;
  readonly records: number;
  readonly withdrawn: number;
  readonly decryptRequests: number;
  readonly maxRssMb: number;
  readonly parquetBytes?: number;
  readonly shards?: number;
}

const { decrypt } = buildDecrypt({ commitmentPolicy: CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, maxEncryptedDataKeys: 1 });

/** Runs `work` over the manifest's lines, `concurrency` at a time. */
async function eachLine(config: ChildConfig, work: (bucket: string, key: string) => Promise<void>): Promise<number> {
  const inFlight = new Set<Promise<void>>();
  let objects = 0;
  for await (const { line } of manifestEntries({ kind: 'file', path: config.manifest })) {
    objects += 1;
    const task = work(line.bucket, line.key).finally(() => inFlight.delete(task));
    inFlight.add(task);
    if (inFlight.size >= config.concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return objects;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
  const common = { region: config.region, credentials: config.credentials, maxAttempts: 3 };
  const s3 = new S3Client({ ...common, endpoint: config.endpoints.s3, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
  // A KMS client with the keyring's `decrypt` method (the sdk run hands it to the keyring as it is); the reader only calls `send`.
  const kms = new KeyringKmsClient({ ...common, endpoint: config.endpoints.kms });
  let decryptRequests = 0;
  kms.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'DecryptCommand') decryptRequests += 1;
      return next(args);
    },
    { step: 'initialize', name: 'countDecrypts' },
  );
  let ciphertextBytes = 0;
  let plaintextBytes = 0;
  let records = 0;
  let withdrawn = 0;
  let objects = 0;
  let extra: Partial<ChildResult> = {};
  const fetch = async (bucket: string, key: string): Promise<Uint8Array> => {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    ciphertextBytes += bytes.length;
    return bytes;
  };
  const t0 = performance.now();
  if (config.mode === 'floor') {
    const key = randomBytes(32);
    objects = await eachLine(config, async (bucket, objectKey) => {
      const bytes = await fetch(bucket, objectKey);
      // The bulk of any decrypt: AES-256-GCM over every byte (the tag is not checked: these are not its bytes).
      createDecipheriv('aes-256-gcm', key, randomBytes(12)).update(bytes);
    });
  } else if (config.mode === 'sdk') {
    objects = await eachLine(config, async (bucket, objectKey) => {
      const keyring = new KmsKeyring({ discovery: true, discoveryFilter: { accountIDs: [config.account], partition: 'aws' }, clientProvider: (() => kms) as unknown as NonNullable<ConstructorParameters<typeof KmsKeyring>[0]>['clientProvider'] });
      await decrypt(keyring, await fetch(bucket, objectKey));
    });
  } else {
    const counted = new S3Client({ ...common, endpoint: config.endpoints.s3, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
    counted.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        const length = (result.response as { headers?: Record<string, string> }).headers?.['content-length'];
        ciphertextBytes += Number(length ?? 0);
        return result;
      },
      { step: 'deserialize', name: 'countBytes' },
    );
    const reader = new DatasetReader({ s3: counted, kms, keyAccounts: [config.account], concurrency: config.concurrency });
    const dir = config.mode === 'parquet' ? mkdtempSync(join(tmpdir(), 'cc-bench-parquet-')) : undefined;
    const shards = dir === undefined ? undefined : new ParquetShards({ dir, manifest: config.manifest });
    for await (const record of reader.records({ kind: 'file', path: config.manifest })) shards?.append(record);
    const files = shards?.close() ?? [];
    ({ objects, records, withdrawn, plaintextBytes } = reader.summary);
    if (dir !== undefined) {
      extra = { shards: files.length, parquetBytes: files.reduce((sum, file) => sum + statSync(file).size, 0) };
      rmSync(dir, { recursive: true, force: true });
    }
    counted.destroy();
  }
  const ms = Math.round(performance.now() - t0);
  // maxRSS is in kilobytes: the peak resident set of this whole process.
  const maxRssMb = Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
  process.stdout.write(`${JSON.stringify({ mode: config.mode, ms, objects, ciphertextBytes, plaintextBytes, records, withdrawn, decryptRequests, maxRssMb, ...extra } satisfies ChildResult)}\n`);
  s3.destroy();
  kms.destroy();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  process.exit(1);
});
