// Writes `.local/stack.json`, the local stack's contract with tools and tests (docs/design.md,
// "The local stack"). It holds credentials, so it is written with mode 0600.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import type { LocalIdentity, PrincipalCredentials, PrincipalName } from './principals.js';

export interface StackFile {
  readonly api?: string;
  readonly region: string;
  readonly account: string;
  /** `lambda` (the local Invoke endpoint) was added after the first version: additive. */
  readonly endpoints: { readonly kms: string; readonly s3?: string; readonly dynamodb?: string; readonly lambda?: string };
  readonly principals: Readonly<Record<PrincipalName, PrincipalCredentials>>;
  readonly buckets?: { readonly captures: string; readonly exports: string };
  readonly tables?: { readonly ledger: string; readonly batches?: string; readonly exportJobs?: string; readonly datasets?: string };
  readonly trail: string;
}

export function stackFileOf(
  identity: LocalIdentity,
  parts: { endpoints: StackFile['endpoints']; trailDir: string; api?: string; buckets?: StackFile['buckets']; tables?: StackFile['tables'] },
): StackFile {
  const principals = Object.fromEntries(
    Object.entries(identity.principals).map(([name, p]) => [name, { arn: p.arn, accessKeyId: p.accessKeyId, secretAccessKey: p.secretAccessKey }]),
  ) as Record<PrincipalName, PrincipalCredentials>;
  return {
    ...(parts.api === undefined ? {} : { api: parts.api }),
    region: identity.region,
    account: identity.account,
    endpoints: parts.endpoints,
    principals,
    ...(parts.buckets === undefined ? {} : { buckets: parts.buckets }),
    ...(parts.tables === undefined ? {} : { tables: parts.tables }),
    trail: displayPath(parts.trailDir),
  };
}

/** Relative to the working directory when inside it (`.local/cloudtrail`), absolute otherwise. */
function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

export function writeStackFile(localDir: string, stack: StackFile): string {
  mkdirSync(localDir, { recursive: true, mode: 0o700 });
  const file = join(localDir, 'stack.json');
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(stack, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return file;
}
