// Reads a dataset manifest (JSON Lines: a `format` header, then one capture object per line) from
// S3 or a local file, line by line, so a manifest of any size costs one line of memory. A line
// that is not what the contract says stops the read with an error naming the line.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { contextOfKey } from '../../contract/capture-keys.js';
import { DATASET_MANIFEST_FORMAT, datasetManifestLineSchema, type DatasetManifestLine } from '../../contract/dataset-manifest.js';

export type ManifestLocation = { readonly kind: 's3'; readonly bucket: string; readonly key: string } | { readonly kind: 'file'; readonly path: string };

export interface ManifestEntry {
  /** 1-based, counting the header, as an editor shows it. */
  readonly lineNumber: number;
  readonly line: DatasetManifestLine;
}

/** The manifest is not what the contract says; names the line, never its content. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  constructor(
    readonly lineNumber: number,
    problem: string,
  ) {
    super(`manifest line ${lineNumber}: ${problem}`);
  }
}

/** The header: only `format` is required; a builder may add fields (the dataset id, when it was built). */
const headerSchema = z.looseObject({ format: z.string() });

/** `s3://bucket/key` or a local path. */
export function parseManifestLocation(location: string): ManifestLocation {
  if (!location.startsWith('s3://')) return { kind: 'file', path: location };
  const rest = location.slice('s3://'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) throw new Error(`not an s3://bucket/key url: ${location}`);
  return { kind: 's3', bucket: rest.slice(0, slash), key: rest.slice(slash + 1) };
}

async function openManifest(location: ManifestLocation, s3: S3Client | undefined): Promise<Readable> {
  if (location.kind === 'file') return createReadStream(location.path);
  if (s3 === undefined) throw new Error('an s3:// manifest needs an S3 client');
  const object = await s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
  if (!(object.Body instanceof Readable)) throw new Error(`GetObject of s3://${location.bucket}/${location.key} answered without a readable body`);
  return object.Body;
}

function issuesOf(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length === 0 ? '(line)' : issue.path.join('.')}: ${issue.message}`)
    .join('; ');
}

/** Checks one raw line: JSON, the contract's shape, and a key that names the line's own employee, scope and batch. */
export function parseManifestLine(raw: string, lineNumber: number): DatasetManifestLine {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ManifestError(lineNumber, 'not JSON');
  }
  const parsed = datasetManifestLineSchema.safeParse(json);
  if (!parsed.success) throw new ManifestError(lineNumber, `not a manifest line (${issuesOf(parsed.error)})`);
  const line = parsed.data;
  // The key is what is fetched and the line is what is believed: they must say the same, or a
  // record would be labelled with another employee's or scope's lineage.
  const named = contextOfKey(line.key);
  if (named === undefined || named.employeeId !== line.employeeId || named.scope !== line.scope || named.batchId !== line.batchId) {
    throw new ManifestError(lineNumber, 'its key does not name its employeeId, scope and batchId');
  }
  return line;
}

/** The manifest's entries in order. Blank lines are skipped; the first non-blank line must be the header. */
export async function* manifestEntries(location: ManifestLocation, s3?: S3Client): AsyncGenerator<ManifestEntry> {
  const input = await openManifest(location, s3);
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNumber = 0;
  let headerSeen = false;
  try {
    for await (const raw of lines) {
      lineNumber += 1;
      if (raw.trim() === '') continue;
      if (!headerSeen) {
        let json: unknown;
        try {
          json = JSON.parse(raw);
        } catch {
          throw new ManifestError(lineNumber, 'the header is not JSON');
        }
        const header = headerSchema.safeParse(json);
        if (!header.success) throw new ManifestError(lineNumber, `the first line must be the header {"format": "${DATASET_MANIFEST_FORMAT}", …}`);
        if (header.data.format !== DATASET_MANIFEST_FORMAT) throw new ManifestError(lineNumber, `format ${JSON.stringify(header.data.format)} is not ${DATASET_MANIFEST_FORMAT}, which this reader reads`);
        headerSeen = true;
        continue;
      }
      yield { lineNumber, line: parseManifestLine(raw, lineNumber) };
    }
  } finally {
    lines.close();
    input.destroy();
  }
  if (!headerSeen) throw new ManifestError(Math.max(1, lineNumber), 'the manifest is empty (no header)');
}
