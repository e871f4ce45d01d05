// `npm run dataset -- read <manifest> [--to-parquet <dir>]`: reads a dataset as a training job
// would, with whatever AWS credentials the environment gives (the training role), or as a
// principal of a local stack. Progress on a terminal; a summary (records, objects, withdrawn, per
// scope) at the end. Records go to stdout as JSON Lines unless --to-parquet writes shards. Exit 0 when read, 1 when the read stopped or an object was corrupt, 2 on usage.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { SCOPES } from '../contract/vocabulary.js';
import { DatasetReader, ManifestError, parseManifestLocation, ParquetShards, ReaderUnavailableError, type ManifestLocation, type ReadSummary } from './reader/index.js';

export const USAGE = `usage: npm run dataset -- read <s3://bucket/key | path> [--to-parquet <dir>] [--key-account <12 digits>]... [--concurrency <n>]
                                 [--summary-json <file>] [--local-stack <.local/stack.json> --principal <name>]
  Records go to stdout as JSON Lines, or with --to-parquet to Parquet shards in <dir>; progress and the summary go to stderr.
  Credentials and endpoints come from the environment (the training role), or from a local stack's stack.json.`;

export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

class UsageError extends Error {}

/** The part of a local stack's stack.json the CLI needs. */
const stackFileSchema = z.object({
  region: z.string(),
  account: z.string().regex(/^\d{12}$/),
  endpoints: z.object({ kms: z.string(), s3: z.string() }),
  principals: z.record(z.string(), z.object({ accessKeyId: z.string(), secretAccessKey: z.string() })),
});

function clientsFor(values: { 'local-stack'?: string; principal?: string }): { s3: S3Client; kms: KMSClient; account?: string } {
  if (values['local-stack'] === undefined) {
    if (values.principal !== undefined) throw new UsageError('--principal needs --local-stack');
    // The environment's credentials and endpoints (AWS_ENDPOINT_URL_S3/_KMS), as in a training job.
    return { s3: new S3Client({}), kms: new KMSClient({}) };
  }
  if (values.principal === undefined) throw new UsageError('--local-stack needs --principal <name> (the role to read as)');
  let stack: z.infer<typeof stackFileSchema>;
  try {
    stack = stackFileSchema.parse(JSON.parse(readFileSync(values['local-stack'], 'utf8')));
  } catch {
    throw new UsageError(`${values['local-stack']} is not a local stack's stack.json with kms and s3 endpoints`);
  }
  const principal = stack.principals[values.principal];
  if (principal === undefined) throw new UsageError(`the local stack has no principal ${values.principal} (it has ${Object.keys(stack.principals).join(', ')})`);
  const common = { region: stack.region, credentials: { accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey } };
  const s3Config: S3ClientConfig = { ...common, endpoint: stack.endpoints.s3, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' };
  const kmsConfig: KMSClientConfig = { ...common, endpoint: stack.endpoints.kms };
  return { s3: new S3Client(s3Config), kms: new KMSClient(kmsConfig), account: stack.account };
}

export function formatSummary(summary: ReadSummary, seconds: number, files: readonly string[]): string {
  const lines = [
    `records   ${summary.records}`,
    `objects   ${summary.objects} (read ${summary.objects - summary.withdrawn - summary.missing - summary.corrupt}, withdrawn ${summary.withdrawn}, missing ${summary.missing}, corrupt ${summary.corrupt})`,
    `plaintext ${(summary.plaintextBytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s`,
    'per scope   objects   records   withdrawn   missing   corrupt',
    ...SCOPES.filter((scope) => summary.perScope[scope].objects > 0).map((scope) => {
      const c = summary.perScope[scope];
      return `${scope.padEnd(10)} ${String(c.objects).padStart(8)} ${String(c.records).padStart(9)} ${String(c.withdrawn).padStart(11)} ${String(c.missing).padStart(9)} ${String(c.corrupt).padStart(9)}`;
    }),
  ];
  for (const skipped of summary.skipped.filter((s) => s.status === 'corrupt')) lines.push(`corrupt: line ${skipped.lineNumber} ${skipped.key} (${skipped.reason ?? 'unknown'})`);
  if (files.length > 0) lines.push(`parquet   ${files.length} shard(s): ${files.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

export async function runDatasetCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        'to-parquet': { type: 'string' },
        'key-account': { type: 'string', multiple: true },
        concurrency: { type: 'string' },
        'summary-json': { type: 'string' },
        'local-stack': { type: 'string' },
        principal: { type: 'string' },
      },
    });
  } catch (error) {
    io.stderr.write(`dataset: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  let clients: { s3: S3Client; kms: KMSClient; account?: string } | undefined;
  try {
    if (positionals[0] !== 'read' || positionals.length !== 2 || positionals[1] === undefined) throw new UsageError('expected: read <manifest>');
    let location: ManifestLocation;
    try {
      location = parseManifestLocation(positionals[1]);
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
    if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1)) throw new UsageError(`--concurrency must be a positive whole number, not ${values.concurrency}`);
    const badAccount = values['key-account']?.find((account) => !/^\d{12}$/.test(account));
    if (badAccount !== undefined) throw new UsageError(`--key-account must be a 12-digit AWS account id, not ${badAccount}`);
    clients = clientsFor(values);
    const keyAccounts = values['key-account'] ?? (clients.account === undefined ? [] : [clients.account]);
    if (keyAccounts.length === 0) throw new UsageError('--key-account <12 digits> is needed: the account that owns the employee keys');
    const reader = new DatasetReader({ s3: clients.s3, kms: clients.kms, keyAccounts, ...(concurrency === undefined ? {} : { concurrency }) });
    const shards = values['to-parquet'] === undefined ? undefined : new ParquetShards({ dir: values['to-parquet'], manifest: positionals[1] });
    const started = performance.now();
    let lastProgress = 0;
    const progress = (final: boolean): void => {
      if (io.stderr.isTTY !== true) return;
      const now = performance.now();
      if (!final && now - lastProgress < 200) return;
      lastProgress = now;
      const s = reader.summary;
      const rate = s.plaintextBytes / 1e6 / Math.max(0.001, (now - started) / 1000);
      io.stderr.write(`\r${s.objects} objects, ${s.records} records, ${s.withdrawn} withdrawn, ${(s.plaintextBytes / 1e6).toFixed(1)} MB (${rate.toFixed(1)} MB/s)${final ? '\n' : ''}`);
    };
    try {
      for await (const reading of reader.objects(location)) {
        if (reading.status === 'read' && shards !== undefined) for (const record of reading.records) shards.append(record);
        if (reading.status === 'read' && shards === undefined) {
          let chunk = '';
          for (const record of reading.records) chunk += `${JSON.stringify(record)}\n`;
          if (!io.stdout.write(chunk)) await new Promise((resolve) => io.stdout.once('drain', resolve));
        }
        progress(false);
      }
    } finally {
      progress(true);
    }
    const files = shards?.close() ?? [];
    const seconds = (performance.now() - started) / 1000;
    io.stderr.write(formatSummary(reader.summary, seconds, files));
    if (values['summary-json'] !== undefined) writeFileSync(values['summary-json'], `${JSON.stringify({ ...reader.summary, seconds, parquet: files }, null, 2)}\n`);
    return reader.summary.corrupt > 0 ? 1 : 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`dataset: ${error.message}\n${USAGE}\n`);
      return 2;
    }
    if (error instanceof ManifestError || error instanceof ReaderUnavailableError) {
      io.stderr.write(`dataset: ${error.message}; the read stopped\n`);
      return 1;
    }
    io.stderr.write(`dataset: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
    return 1;
  } finally {
    clients?.s3.destroy();
    clients?.kms.destroy();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  process.exitCode = await runDatasetCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
}
