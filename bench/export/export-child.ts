// One measured run in its own process, so its peak RSS is the export's alone: `export` runs the
// worker's core (list, GetObject, decrypt through the grant, check, gzip, multipart upload);
// `floor` does the least any export of these objects must (GetObject and decrypt, output to
// /dev/null), with the same read-ahead. Prints one JSON line with the figures.
import { createWriteStream } from 'node:fs';
import { KMS } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { buildClient, CommitmentPolicy, KmsKeyringNode } from '@aws-crypto/client-node';
import { CaptureReader } from '../../lambdas/export/capture-reader.js';
import { captureKeys, readInOrder, writeExportFile } from '../../lambdas/export/export-file.js';

export interface ChildConfig {
  readonly mode: 'export' | 'floor';
  readonly region: string;
  readonly endpoints: { readonly kms: string; readonly s3: string };
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly capturesBucket: string;
  readonly exportsBucket: string;
  readonly employeeId: string;
  readonly keyArn: string;
  readonly grantToken: string;
  readonly fileKey: string;
}

export interface ChildResult {
  readonly mode: ChildConfig['mode'];
  readonly ms: number;
  readonly objects: number;
  readonly plaintextBytes: number;
  readonly maxRssMb: number;
  readonly lines?: number;
  readonly unreadable?: number;
  readonly fileBytes?: number;
}

const { decrypt } = buildClient({ commitmentPolicy: CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, maxEncryptedDataKeys: 1 });

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
  const common = { region: config.region, credentials: config.credentials, maxAttempts: 3 };
  const s3 = new S3Client({ ...common, endpoint: config.endpoints.s3, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
  const kms = new KMS({ ...common, endpoint: config.endpoints.kms });
  const reader = new CaptureReader({ s3, kms, bucket: config.capturesBucket, employeeId: config.employeeId, keyArn: config.keyArn, grantToken: config.grantToken });
  const t0 = performance.now();
  let result: Omit<ChildResult, 'ms' | 'maxRssMb'>;
  if (config.mode === 'export') {
    const file = await writeExportFile({ s3, capturesBucket: config.capturesBucket, exportsBucket: config.exportsBucket, employeeId: config.employeeId, fileKey: config.fileKey, reader });
    result = { mode: 'export', objects: file.objects.listed, plaintextBytes: -1, lines: file.lines, unreadable: file.objects.unreadable, fileBytes: file.bytes };
  } else {
    const keyring = new KmsKeyringNode({ keyIds: [config.keyArn], grantTokens: [config.grantToken], clientProvider: () => kms });
    const sink = createWriteStream('/dev/null');
    let objects = 0;
    let plaintextBytes = 0;
    const decrypted = readInOrder(captureKeys(s3, config.capturesBucket, config.employeeId), async (key) => {
      const { ciphertext } = await reader.fetch(key);
      const { plaintext } = await decrypt(keyring, ciphertext);
      sink.write(plaintext);
      plaintextBytes += plaintext.length;
      return { readable: false, key, reason: 'decrypt-failed' } as const;
    });
    for await (const _ of decrypted) objects += 1;
    sink.end();
    result = { mode: 'floor', objects, plaintextBytes };
  }
  const ms = Math.round(performance.now() - t0);
  // maxRSS is in kilobytes: the peak resident set of this whole process.
  const maxRssMb = Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
  process.stdout.write(`${JSON.stringify({ ...result, ms, maxRssMb } satisfies ChildResult)}\n`);
  s3.destroy();
  kms.destroy();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  process.exit(1);
});
