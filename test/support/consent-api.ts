// Speaks to the local stack's HTTP API as agents and employees do, with real JWTs from the local
// issuer, and gives SDK clients that act as the stack's principals.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Ledger } from '../../lambdas/shared/ledger.js';
import type { KeyPolicyRoles } from '../../lambdas/shared/key-policy.js';
import { AdjustableClock } from '../../local/kms/clock.js';
import type { PrincipalName } from '../../local/principals.js';
import { LOCAL_RESOURCES, startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/stack.js';

export interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown> & { error?: string; message?: string; details?: { path: string; message: string }[] };
}

export interface TestStack {
  readonly stack: LocalStack;
  readonly clock: AdjustableClock;
  readonly roles: KeyPolicyRoles;
  readonly ledger: Ledger;
  readonly s3: S3Client;
  kms(name: PrincipalName): KMSClient;
  token(employeeId: string, scope: string, ttlSeconds?: number): Promise<string>;
  call(method: string, path: string, options?: { token?: string; body?: unknown; rawBody?: string }): Promise<ApiResponse>;
  close(): Promise<void>;
}

export async function startTestStack(options: Partial<LocalStackOptions> = {}): Promise<TestStack> {
  const localDir = mkdtempSync(join(tmpdir(), 'cc-stack-'));
  const clock = options.clock ?? new AdjustableClock();
  const stack = await startLocalStack({ localDir, port: 0, clock, onFunctionLog: () => undefined, ...options });
  const { identity } = stack;
  const p = identity.principals;
  const credentials = (name: PrincipalName) => ({ accessKeyId: p[name].accessKeyId, secretAccessKey: p[name].secretAccessKey });
  const clients: { destroy(): void }[] = [];
  const kmsClients = new Map<PrincipalName, KMSClient>();
  const dynamo = new DynamoDBClient({ endpoint: stack.endpoints.dynamodb, region: identity.region, credentials: credentials('admin') });
  const s3 = new S3Client({
    endpoint: stack.endpoints.s3,
    region: identity.region,
    credentials: credentials('admin'),
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  clients.push(dynamo, s3);
  return {
    stack,
    clock,
    roles: { ingest: p.ingest.arn, consent: p.consent.arn, export: p.export.arn, purge: p.purge.arn, auditor: p.auditor.arn },
    ledger: new Ledger(DynamoDBDocumentClient.from(dynamo), LOCAL_RESOURCES.tables.ledger),
    s3,
    kms(name) {
      let client = kmsClients.get(name);
      if (!client) {
        client = new KMSClient({ endpoint: stack.endpoints.kms, region: identity.region, credentials: credentials(name), maxAttempts: 1 });
        kmsClients.set(name, client);
        clients.push(client);
      }
      return client;
    },
    token: (employeeId, scope, ttlSeconds) => stack.issuer.mint({ subject: employeeId, scope, ...(ttlSeconds === undefined ? {} : { ttlSeconds }) }),
    async call(method, path, { token, body, rawBody } = {}) {
      const response = await fetch(`${stack.api}${path}`, {
        method,
        headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body !== undefined || rawBody !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(rawBody !== undefined ? { body: rawBody } : body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      let parsed: ApiResponse['body'] = {};
      if (text !== '') parsed = JSON.parse(text) as ApiResponse['body'];
      return { status: response.status, headers: response.headers, body: parsed };
    },
    async close() {
      for (const client of clients) client.destroy();
      await stack.close();
      rmSync(localDir, { recursive: true, force: true });
    },
  };
}

export const NOTICE = { noticeVersion: '2026-11', noticeSha256: 'b'.repeat(64) };
