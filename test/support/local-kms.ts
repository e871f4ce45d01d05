// Starts a local KMS in-process on a temporary .local directory, with an adjustable clock, and
// hands out real SDK clients that sign as each local principal.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import type { KeyPolicyRoles } from '../../lambdas/shared/key-policy.js';
import { AdjustableClock } from '../../local/kms/clock.js';
import { kmsPaths, startLocalKms, type LocalKms } from '../../local/kms/server.js';
import { loadOrCreateIdentity, type LocalIdentity, type PrincipalName } from '../../local/principals.js';
import { loadTemplatePolicies, type TemplatePolicies } from '../../local/template-policies.js';
import { LOCAL_REQUEST_HANDLER } from '../../local/keep-alive.js';

export interface TestKms {
  readonly kms: LocalKms;
  readonly url: string;
  readonly clock: AdjustableClock;
  readonly identity: LocalIdentity;
  readonly localDir: string;
  readonly roles: KeyPolicyRoles;
  client(name: PrincipalName): KMSClient;
  /** Every CloudTrail-shaped record written so far, oldest first. */
  trail(): TrailRecord[];
  /** Stops the server; with `keepFiles`, leaves the directory for a restart. */
  close(options?: { keepFiles?: boolean }): Promise<void>;
}

export interface TrailRecord {
  eventName: string;
  eventTime: string;
  eventSource: string;
  userIdentity: { type: string; arn?: string; sessionContext?: { sessionIssuer: { arn: string } } };
  requestParameters: Record<string, unknown> | null;
  responseElements: Record<string, unknown> | null;
  errorCode?: string;
  errorMessage?: string;
  resources: { ARN: string }[];
  eventID: string;
  readOnly: boolean;
}

export function readTrail(trailDir: string): TrailRecord[] {
  const files = readdirSync(trailDir).filter((f) => f.endsWith('.jsonl')).sort();
  return files.flatMap((f) =>
    readFileSync(join(trailDir, f), 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as TrailRecord),
  );
}

export async function startTestKms(options: { localDir?: string; clock?: AdjustableClock; templatePolicies?: TemplatePolicies } = {}): Promise<TestKms> {
  const localDir = options.localDir ?? mkdtempSync(join(tmpdir(), 'cc-kms-'));
  const clock = options.clock ?? new AdjustableClock();
  const paths = kmsPaths(localDir);
  const identity = loadOrCreateIdentity(paths.principalsFile, options.templatePolicies ?? (await loadTemplatePolicies()));
  const kms = await startLocalKms({ stateDir: paths.stateDir, trailDir: paths.trailDir, identity, clock });
  const clients = new Map<PrincipalName, KMSClient>();
  const p = identity.principals;
  return {
    kms,
    url: kms.url,
    clock,
    identity,
    localDir,
    roles: { ingest: p.ingest.arn, steward: p.steward.arn, export: p.export.arn, purge: p.purge.arn, auditor: p.auditor.arn },
    client(name) {
      let client = clients.get(name);
      if (!client) {
        const { accessKeyId, secretAccessKey } = p[name];
        client = new KMSClient({ endpoint: kms.url, region: identity.region, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1, requestHandler: LOCAL_REQUEST_HANDLER });
        clients.set(name, client);
      }
      return client;
    },
    trail: () => readTrail(paths.trailDir),
    async close({ keepFiles = false } = {}) {
      for (const client of clients.values()) client.destroy();
      await kms.close();
      if (!keepFiles && options.localDir === undefined) rmSync(localDir, { recursive: true, force: true });
    },
  };
}
