// Writes a synthetic local trail and ledger export for the audit benchmark: employees who consent,
// capture (the bulk: GenerateDataKey), pause, resume and export, every record shaped as the local
// KMS writes it and every key policy the builder's, so `audit check` must find nothing.
import { createWriteStream, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { buildKeyPolicy, type KeyPolicyRoles } from '../../lambdas/shared/key-policy.js';
import type { ConsentState } from '../../lambdas/shared/consent-state.js';

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const PRINCIPALS = ['ingest', 'consent', 'export', 'purge', 'steward', 'admin', 'auditor'] as const;
const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/consent-capture-${name}`;

export const ROLES: KeyPolicyRoles = { ingest: role('ingest'), steward: role('steward'), export: role('export'), purge: role('purge'), auditor: role('auditor') };

function identity(name: string): Record<string, unknown> {
  return { type: 'AssumedRole', arn: `arn:aws:sts::${ACCOUNT}:assumed-role/consent-capture-${name}/local`, principalId: `AROA${name.toUpperCase()}:local`, accountId: ACCOUNT, sessionContext: { sessionIssuer: { type: 'Role', principalId: `AROA${name.toUpperCase()}`, arn: role(name), accountId: ACCOUNT, userName: `consent-capture-${name}` } } };
}

const iso = (ms: number) => new Date(ms).toISOString();
const trailTime = (ms: number) => iso(ms).replace(/\.\d{3}Z$/, 'Z');

/** Writes about `records` trail records (exactly, when `employees` divides it) for `employees` employees under `dir` (a stack.json, cloudtrail/, ledger.jsonl). */
export async function writeSyntheticTrail(dir: string, records: number, employees: number): Promise<void> {
  const trailDir = join(dir, 'cloudtrail');
  mkdirSync(trailDir, { recursive: true });
  const principals = Object.fromEntries(PRINCIPALS.map((p) => [p, { arn: role(p), accessKeyId: `AKIA${p.toUpperCase()}`, secretAccessKey: 'x' }]));
  writeFileSync(join(dir, 'stack.json'), JSON.stringify({ region: REGION, account: ACCOUNT, endpoints: { kms: 'http://127.0.0.1:1' }, principals, trail: trailDir }));
  const ledgerLines: string[] = [];
  let written = 0;
  let fileIndex = 0;
  let out: WriteStream | undefined;
  let sequenceNo = 0;
  const write = async (ms: number, name: string, who: string, request: Record<string, unknown>, keyArn: string | undefined, extra: Record<string, unknown> = {}) => {
    if (out === undefined || written % 100_000 === 0) {
      await new Promise<void>((resolve) => (out === undefined ? resolve() : out.end(resolve)));
      fileIndex += 1;
      out = createWriteStream(join(trailDir, `${ACCOUNT}_CloudTrail_${REGION}_202611${String(fileIndex).padStart(4, '0')}.jsonl`));
    }
    sequenceNo += 1;
    const record = {
      eventVersion: '1.08', userIdentity: identity(who), eventTime: trailTime(ms), eventSource: 'kms.amazonaws.com', eventName: name, awsRegion: REGION,
      sourceIPAddress: '127.0.0.1', userAgent: 'aws-sdk-js/3', ...extra, requestParameters: request, responseElements: extra['responseElements'] ?? null,
      requestID: `req-${sequenceNo}`, eventID: `ev-${sequenceNo}`, readOnly: false,
      resources: keyArn === undefined ? [] : [{ accountId: ACCOUNT, type: 'AWS::KMS::Key', ARN: keyArn }], eventType: 'AwsApiCall', managementEvent: true, recipientAccountId: ACCOUNT, eventCategory: 'Management',
    };
    written += 1;
    if (!out.write(`${JSON.stringify(record)}\n`)) await new Promise<void>((resolve) => out?.once('drain', () => resolve()));
  };
  const perEmployee = Math.ceil(records / employees);
  const start = Date.parse('2026-11-01T00:00:00Z');
  for (let e = 0; e < employees; e += 1) {
    const employeeId = `e-${String(e).padStart(6, '0')}`;
    const keyArn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-4000-8000-${e.toString(16).padStart(12, '0')}`;
    const t0 = start + e * 1_000;
    const pauseAt = t0 + 10 * 3_600_000;
    const resumeAt = pauseAt + 3_600_000;
    const actor = { kind: 'employee', issuer: 'https://idp.example', subject: employeeId };
    const states: [number, string, ConsentState][] = [
      [t0, 'granted', { employeeId, status: 'active', scopes: ['keystrokes', 'clicks'], keyArn, sequence: 1, updatedAt: iso(t0) }],
      [pauseAt, 'paused', { employeeId, status: 'paused', scopes: ['keystrokes', 'clicks'], pausedUntil: iso(pauseAt + 7_200_000), keyArn, sequence: 2, updatedAt: iso(pauseAt) }],
      [resumeAt, 'resumed', { employeeId, status: 'active', scopes: ['keystrokes', 'clicks'], keyArn, sequence: 3, updatedAt: iso(resumeAt) }],
    ];
    for (const [at, kind, state] of states) ledgerLines.push(JSON.stringify({ employeeId, sequence: state.sequence, kind, at: iso(at), actor, state }));
    await write(t0, 'CreateKey', 'steward', { description: '', keyUsage: 'ENCRYPT_DECRYPT', keySpec: 'SYMMETRIC_DEFAULT', origin: 'AWS_KMS', multiRegion: false, bypassPolicyLockoutSafetyCheck: false }, undefined);
    await write(t0, 'CreateAlias', 'steward', { aliasName: `alias/consent-capture/${employeeId}`, targetKeyId: keyArn }, keyArn);
    for (const [at, , state] of states) await write(at + 100, 'PutKeyPolicy', 'steward', { keyId: keyArn, policyName: 'default', policy: JSON.stringify(buildKeyPolicy(state, ROLES)), bypassPolicyLockoutSafetyCheck: false }, keyArn);
    const decrypts = 20;
    // Per employee: CreateKey, CreateAlias, 3 PutKeyPolicy, CreateGrant, the decrypts, RetireGrant; the rest are data keys.
    const captures = Math.max(1, perEmployee - 7 - decrypts);
    for (let n = 0; n < captures; n += 1) {
      // Spread over the consented hours before and after the pause; one in fifty is a denied try during the pause.
      const denied = n % 50 === 49;
      const at = denied ? pauseAt + 60_000 + n : n % 2 === 0 ? t0 + 60_000 + n * 1_000 : resumeAt + 60_000 + n * 1_000;
      const request = { keyId: `alias/consent-capture/${employeeId}`, encryptionContext: { employeeId, scope: n % 3 === 0 ? 'keystrokes' : 'clicks', batchId: `b-${e}-${n}` }, keySpec: 'AES_256' };
      await write(at, 'GenerateDataKey', 'ingest', request, keyArn, denied ? { errorCode: 'AccessDeniedException', errorMessage: 'denied' } : {});
    }
    const exportAt = resumeAt + 86_400_000;
    await write(exportAt, 'CreateGrant', 'steward', { keyId: keyArn, granteePrincipal: ROLES.export, retiringPrincipal: ROLES.export, operations: ['Decrypt'], constraints: { encryptionContextSubset: { employeeId } } }, keyArn, { responseElements: { grantId: `g-${e}` } });
    for (let n = 0; n < decrypts; n += 1) {
      await write(exportAt + 1_000, 'Decrypt', 'export', { encryptionContext: { employeeId, scope: 'clicks', batchId: `b-${e}-${n}` }, encryptionAlgorithm: 'SYMMETRIC_DEFAULT' }, keyArn);
    }
    await write(exportAt + 2_000, 'RetireGrant', 'export', { keyId: keyArn, grantId: `g-${e}` }, keyArn);
  }
  await new Promise<void>((resolve) => (out === undefined ? resolve() : out.end(resolve)));
  writeFileSync(join(dir, 'ledger.jsonl'), `${ledgerLines.join('\n')}\n`);
}
