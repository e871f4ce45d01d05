// Looks for a planted marker string in bytes, files and directory trees, in the forms plaintext
// could leak in: raw UTF-8, UTF-16LE, hex, base64 (any alignment, standard or URL alphabet), and
// inside gzip streams (a file that starts with the gzip magic is also scanned inflated).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface MarkerForm {
  readonly label: string;
  readonly bytes: Buffer;
}

export interface MarkerHit {
  readonly where: string;
  readonly form: string;
}

/**
 * The marker as base64 at each of the three alignments it can take inside a longer base64 text:
 * only the characters that depend on the marker's bytes alone are kept.
 */
function base64Cores(marker: Buffer, alphabet: 'base64' | 'base64url'): string[] {
  const cores: string[] = [];
  for (let lead = 0; lead < 3; lead += 1) {
    const padded = Buffer.concat([Buffer.alloc(lead), marker]);
    const encoded = padded.toString(alphabet);
    // Characters before the first full group of marker bytes mix in the lead bytes; after the
    // last full group, padding or the following bytes.
    const firstGroup = lead === 0 ? 0 : 1;
    const fullGroups = Math.floor(padded.length / 3);
    cores.push(encoded.slice(firstGroup * 4, fullGroups * 4));
  }
  return cores.filter((core) => core.length >= 8);
}

export function markerForms(marker: string): MarkerForm[] {
  const utf8 = Buffer.from(marker, 'utf8');
  return [
    { label: 'utf8', bytes: utf8 },
    { label: 'utf16le', bytes: Buffer.from(marker, 'utf16le') },
    { label: 'hex', bytes: Buffer.from(utf8.toString('hex'), 'latin1') },
    ...base64Cores(utf8, 'base64').map((core, i) => ({ label: `base64@${i}`, bytes: Buffer.from(core, 'latin1') })),
    ...base64Cores(utf8, 'base64url').map((core, i) => ({ label: `base64url@${i}`, bytes: Buffer.from(core, 'latin1') })),
  ];
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** The first form of `marker` found in `bytes` (inflated too, if they are gzip), or undefined. */
export function findMarker(bytes: Buffer, marker: string, forms: readonly MarkerForm[] = markerForms(marker)): string | undefined {
  for (const form of forms) if (bytes.includes(form.bytes)) return form.label;
  if (bytes.subarray(0, 2).equals(GZIP_MAGIC)) {
    let inflated: Buffer | undefined;
    try {
      inflated = gunzipSync(bytes);
    } catch {
      inflated = undefined;
    }
    const inner = inflated === undefined ? undefined : findMarker(inflated, marker, forms);
    if (inner !== undefined) return `gzip:${inner}`;
  }
  return undefined;
}

/** Every regular file under `dir`, recursively (symbolic links are not followed). */
export function filesUnder(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...filesUnder(path));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

/** Scans every file under `dir`; returns the hits and how many files and bytes were read. */
export function scanTree(dir: string, marker: string): { hits: MarkerHit[]; files: number; bytes: number } {
  const forms = markerForms(marker);
  const hits: MarkerHit[] = [];
  let files = 0;
  let bytes = 0;
  for (const file of filesUnder(dir)) {
    let content: Buffer;
    try {
      content = readFileSync(file);
    } catch (error) {
      // A file removed while we walked (a queue message consumed, a LevelDB compaction) is fine.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    files += 1;
    bytes += content.length;
    const form = findMarker(content, marker, forms);
    if (form !== undefined) hits.push({ where: file, form });
  }
  return { hits, files, bytes };
}

/** Scans text items (log lines, trail records, table items) for the marker. */
export function scanTexts(texts: Iterable<{ where: string; text: string }>, marker: string): MarkerHit[] {
  const forms = markerForms(marker);
  const hits: MarkerHit[] = [];
  for (const { where, text } of texts) {
    const form = findMarker(Buffer.from(text, 'utf8'), marker, forms);
    if (form !== undefined) hits.push({ where, form });
  }
  return hits;
}

