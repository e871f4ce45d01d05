// What `npm run demo` reads of the local KMS's CloudTrail-shaped records: the employee's key ARN
// (through ListAliases as the auditor, or the CreateKey record tagged with the employee), the
// records that name that key, step by step, and the compact "who touched this key" table.
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { KMSClient, ListAliasesCommand } from '@aws-sdk/client-kms';
import { ALIAS_PREFIX } from '../contract/app.js';
import type { DemoStackFile } from './demo-stack.js';

/** The fields of a record the demo shows; see local/kms/trail.ts for the whole shape. */
export interface TrailRecord {
  readonly eventID: string;
  readonly requestID?: string;
  readonly eventTime: string;
  readonly eventName: string;
  readonly userAgent?: string;
  readonly userIdentity?: { readonly arn?: string; readonly sessionContext?: { readonly sessionIssuer?: { readonly userName?: string; readonly arn?: string } } };
  readonly requestParameters?: Readonly<Record<string, unknown>> | null;
  readonly responseElements?: Readonly<Record<string, unknown>> | null;
  readonly errorCode?: string;
  readonly resources?: readonly { readonly ARN?: string }[];
}

/** The demo's own KMS calls carry this in their user agent, so the table can tell them from the functions'. */
export const DEMO_USER_AGENT = 'consent-capture-demo';

/** stack.json's `trail` is relative to where `npm start` ran (normally the repo root), or absolute. */
export function trailDirOf(file: DemoStackFile, localDir: string, repoRoot: string): string {
  if (isAbsolute(file.trail)) return file.trail;
  const candidates = [resolve(file.trail), resolve(repoRoot, file.trail), join(localDir, 'cloudtrail')];
  return candidates.find((dir) => existsSync(dir)) ?? candidates[0] ?? file.trail;
}

/**
 * Reads the trail files as they grow, from where they ended when the reader was made: the demo's
 * employee is new, so nothing before that can name its key. Only whole lines are taken.
 */
export class TrailReader {
  private readonly offsets = new Map<string, number>();

  constructor(readonly dir: string) {
    for (const name of this.files()) this.offsets.set(name, statSync(join(dir, name)).size);
  }

  private files(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((name) => name.endsWith('.jsonl'))
      .sort();
  }

  /** Records appended since the last call, oldest first. */
  readNew(): TrailRecord[] {
    const records: TrailRecord[] = [];
    for (const name of this.files()) {
      const path = join(this.dir, name);
      const start = this.offsets.get(name) ?? 0;
      const size = statSync(path).size;
      if (size <= start) continue;
      const buffer = Buffer.alloc(size - start);
      const fd = openSync(path, 'r');
      try {
        readSync(fd, buffer, 0, buffer.length, start);
      } finally {
        closeSync(fd);
      }
      const complete = buffer.lastIndexOf(0x0a) + 1;
      this.offsets.set(name, start + complete);
      for (const line of buffer.subarray(0, complete).toString('utf8').split('\n')) {
        if (line.trim() !== '') records.push(JSON.parse(line) as TrailRecord);
      }
    }
    return records;
  }
}

export function touchesKey(record: TrailRecord, keyArn: string): boolean {
  return (record.resources ?? []).some((r) => r.ARN === keyArn);
}

/** The ARN of the key a CreateKey record tagged `employeeId=<id>` created, if the records hold one. */
export function keyCreatedFor(records: readonly TrailRecord[], employeeId: string): string | undefined {
  for (const record of records) {
    if (record.eventName !== 'CreateKey' || record.errorCode !== undefined) continue;
    const tags = record.requestParameters?.['tags'];
    const tagged = Array.isArray(tags) && tags.some((t: { TagKey?: unknown; TagValue?: unknown }) => t.TagKey === 'employeeId' && t.TagValue === employeeId);
    if (tagged) return record.resources?.[0]?.ARN;
  }
  return undefined;
}

/** The employee key behind `alias/consent-capture/<id>`, found as the auditor would: kms:ListAliases. */
export async function keyArnByAlias(file: DemoStackFile, employeeId: string): Promise<string | undefined> {
  const { accessKeyId, secretAccessKey } = file.principals.auditor;
  const kms = new KMSClient({ endpoint: file.endpoints.kms, region: file.region, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1, customUserAgent: DEMO_USER_AGENT });
  try {
    const aliasName = `${ALIAS_PREFIX}${employeeId}`;
    let marker: string | undefined;
    do {
      const page = await kms.send(new ListAliasesCommand({ Limit: 100, ...(marker === undefined ? {} : { Marker: marker }) }));
      const alias = page.Aliases?.find((a) => a.AliasName === aliasName);
      if (alias?.TargetKeyId !== undefined) return `arn:aws:kms:${file.region}:${file.account}:key/${alias.TargetKeyId}`;
      marker = page.Truncated === true ? page.NextMarker : undefined;
    } while (marker !== undefined);
    return undefined;
  } finally {
    kms.destroy();
  }
}

/** The role name, as CloudTrail shows it for an assumed role. */
export function principalOf(record: TrailRecord): string {
  const issuer = record.userIdentity?.sessionContext?.sessionIssuer;
  return issuer?.userName ?? issuer?.arn ?? record.userIdentity?.arn ?? 'unknown';
}

export function scopeOf(record: TrailRecord): string | undefined {
  const context = record.requestParameters?.['encryptionContext'];
  if (typeof context !== 'object' || context === null) return undefined;
  const scope = (context as Record<string, unknown>)['scope'];
  return typeof scope === 'string' ? scope : undefined;
}

export function outcomeOf(record: TrailRecord): string {
  return record.errorCode ?? 'allowed';
}

export function isDemoCall(record: TrailRecord): boolean {
  return (record.userAgent ?? '').includes(DEMO_USER_AGENT);
}

/** Lays rows out in columns padded to their widest cell; `paint` colours a padded cell (widths count plain text). */
export function columns(rows: readonly (readonly string[])[], paint: (cell: string, row: number, column: number) => string = (cell) => cell): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row, r) =>
    row
      .map((cell, i) => paint(i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0), r, i))
      .join('  ')
      .trimEnd(),
  );
}
