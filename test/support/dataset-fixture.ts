// Builds a dataset the way the datasets API will, without it: captures go in through the real
// ingest route, a manifest (contract/dataset-manifest.ts) lists the employees' objects with their
// consent lineage from the ledger, and the key steward mints per-employee, per-scope Decrypt
// grants (EncryptionContextSubset {employeeId, scope}) for the reading principal.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateGrantCommand, RevokeGrantCommand } from '@aws-sdk/client-kms';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { contextOfKey } from '../../contract/capture-keys.js';
import { DATASET_MANIFEST_FORMAT, type DatasetManifestLine } from '../../contract/dataset-manifest.js';
import type { Scope } from '../../contract/vocabulary.js';
import type { PrincipalName } from '../../local/principals.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch, type CaptureKind } from './capture-batches.js';
import { NOTICE, type ConsentTestStack } from './consent-api.js';
import { exportApi } from './export-api.js';

const { captures } = LOCAL_RESOURCES.buckets;

/** What a dataset record must be: the stored event with its lineage (no deviceId: training does not need it). */
export type ExpectedRecord = Record<string, unknown>;

export interface DatasetFixture {
  readonly lines: DatasetManifestLine[];
  /** By object key: the records a reader must yield for it, in order. */
  readonly expected: Map<string, ExpectedRecord[]>;
  /** By `${employeeId}/${scope}`: the grant minted for the grantee. */
  readonly grants: Map<string, { keyArn: string; grantId: string }>;
}

/** Writes a manifest file: the header, then one line per object. */
export function writeManifest(lines: readonly (DatasetManifestLine | string)[], header: Record<string, unknown> = { format: DATASET_MANIFEST_FORMAT, datasetId: 'd-test' }): string {
  const path = join(mkdtempSync(join(tmpdir(), 'cc-manifest-')), 'manifest.jsonl');
  writeFileSync(path, `${[header, ...lines].map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`);
  return path;
}

export async function keyArnOf(t: ConsentTestStack, employeeId: string): Promise<string> {
  const arn = (await t.ledger.latestEvent(employeeId))?.state.keyArn;
  if (arn === undefined) throw new Error(`${employeeId} has no key`);
  return arn;
}

/** A Decrypt grant for `grantee` on the employee's key, constrained to {employeeId, scope}, minted by the key steward as the datasets API has it do. */
export async function grantScope(t: ConsentTestStack, grantee: PrincipalName, employeeId: string, scope: Scope): Promise<{ keyArn: string; grantId: string }> {
  const keyArn = await keyArnOf(t, employeeId);
  const granteeArn = t.stack.identity.principals[grantee].arn;
  const grant = await t.kms('steward').send(
    new CreateGrantCommand({
      KeyId: keyArn,
      GranteePrincipal: granteeArn,
      // The key policy lets the export role retire its grants; training grants have no retiring principal (the steward revokes them).
      ...(grantee === 'export' ? { RetiringPrincipal: granteeArn } : {}),
      Operations: ['Decrypt'],
      Constraints: { EncryptionContextSubset: { employeeId, scope } },
    }),
  );
  if (grant.GrantId === undefined) throw new Error('CreateGrant returned no grant id');
  return { keyArn, grantId: grant.GrantId };
}

export async function revokeGrant(t: ConsentTestStack, grant: { keyArn: string; grantId: string }): Promise<void> {
  await t.kms('steward').send(new RevokeGrantCommand({ KeyId: grant.keyArn, GrantId: grant.grantId }));
}

/**
 * Consents each employee to its scopes, captures `batches` batches of every kind through ingest,
 * and lists the stored objects of the `datasetScopes` they consented to as manifest lines, with
 * grants for `grantee` per (employee, scope) of the dataset.
 */
export async function buildDatasetFixture(
  t: ConsentTestStack,
  options: { employees: Record<string, readonly Scope[]>; datasetScopes: readonly Scope[]; grantee: PrincipalName; batches?: number; perKind?: number },
): Promise<DatasetFixture> {
  const api = exportApi(t);
  const expected = new Map<string, ExpectedRecord[]>();
  const lines: DatasetManifestLine[] = [];
  const grants = new Map<string, { keyArn: string; grantId: string }>();
  const kinds: CaptureKind[] = ['keystroke', 'click', 'app-focus'];
  for (const [employeeId, scopes] of Object.entries(options.employees)) {
    await api.consent(employeeId, scopes);
    const consentSeq = (await t.ledger.latestEvent(employeeId))?.sequence;
    if (consentSeq === undefined) throw new Error(`no consent event for ${employeeId}`);
    const stored: Record<string, unknown>[] = [];
    for (let n = 0; n < (options.batches ?? 2); n += 1) {
      stored.push(...(await api.capture(employeeId, captureBatch({ kinds, perKind: options.perKind ?? 3, marker: n === 0 ? 'write to jane.doe@example.com' : `round ${n}` }), scopes)));
    }
    const listed = await t.s3.send(new ListObjectsV2Command({ Bucket: captures, Prefix: `captures/${employeeId}/` }));
    for (const object of listed.Contents ?? []) {
      const context = object.Key === undefined ? undefined : contextOfKey(object.Key);
      if (object.Key === undefined || context === undefined || !options.datasetScopes.includes(context.scope)) continue;
      const records = stored
        .filter((event) => event['scope'] === context.scope && event['batchId'] === context.batchId)
        .map(({ scope, batchId, deviceId: _device, ...event }): ExpectedRecord => ({ employeeId, scope, batchId, consentSeq, noticeVersion: NOTICE.noticeVersion, noticeSha256: NOTICE.noticeSha256, ...event }));
      const times = records.map((record) => record['ts'] as number);
      expected.set(object.Key, records);
      lines.push({
        bucket: captures,
        key: object.Key,
        ...context,
        from: Math.min(...times),
        to: Math.max(...times),
        events: records.length,
        lineage: { consentSeq, noticeVersion: NOTICE.noticeVersion, noticeSha256: NOTICE.noticeSha256 },
      });
    }
    for (const scope of options.datasetScopes.filter((s) => scopes.includes(s))) grants.set(`${employeeId}/${scope}`, await grantScope(t, options.grantee, employeeId, scope));
  }
  return { lines, expected, grants };
}
