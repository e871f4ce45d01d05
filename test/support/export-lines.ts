// Reads an export back as an employee would: download through the presigned URL, gunzip, one JSON
// object per line, each validated with Ajv against the JSON Schema file the docs publish
// (docs/export-line.schema.json), not against the worker's own zod schema.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { EXPORT_LINE_SCHEMA_FILE } from '../../contract/export-format.js';

const ROOT = new URL('../../', import.meta.url);

export function publishedLineSchema(): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(EXPORT_LINE_SCHEMA_FILE, ROOT), 'utf8')) as Record<string, unknown>;
}

const validate = new Ajv2020({ strict: true, allErrors: true }).compile(publishedLineSchema());

/** Ajv's verdict on one line: undefined when valid, else its errors in one string. */
export function lineSchemaErrors(line: unknown): string | undefined {
  return validate(line) ? undefined : JSON.stringify(validate.errors);
}

export interface DownloadedExport {
  readonly bytes: Buffer;
  readonly lines: Record<string, unknown>[];
}

/** Downloads the file at a presigned URL (no credentials), gunzips it and parses its lines. */
export async function downloadExport(url: string): Promise<DownloadedExport> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`download answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  const text = gunzipSync(bytes).toString('utf8');
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  return { bytes, lines };
}
