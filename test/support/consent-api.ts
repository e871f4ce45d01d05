// The consent API as employees, agents and HR use it, on top of the in-process local stack
// (test/support/local-stack.ts): JSON calls with real JWTs, the ledger, and the roles that key
// policies name. useTestStack() gives a test file its one stack (see test/support/local-stack.ts).
import type { KMSClient } from '@aws-sdk/client-kms';
import type { S3Client } from '@aws-sdk/client-s3';
import type { KeyPolicyRoles } from '../../lambdas/shared/key-policy.js';
import { Ledger } from '../../lambdas/shared/ledger.js';
import type { PrincipalName } from '../../local/principals.js';
import { afterAll, beforeAll } from 'vitest';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { startTestStack as startLocalTestStack, type TestStack as LocalTestStack, type TestStackOptions } from './local-stack.js';
import { employeeActor, inProcessConsent } from './in-process-services.js';

export interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown> & { error?: string; message?: string; details?: { path: string; message: string }[] };
}

export interface ConsentTestStack {
  readonly local: LocalTestStack;
  readonly stack: LocalTestStack['stack'];
  readonly clock: LocalTestStack['clock'];
  readonly roles: KeyPolicyRoles;
  /** The ledger, read as the admin principal. */
  readonly ledger: Ledger;
  /** S3 as the admin principal (local S3 enforces no policy). */
  readonly s3: S3Client;
  /** One cached client per principal. */
  kms(name: PrincipalName): KMSClient;
  token(employeeId: string, scope: string, ttlSeconds?: number): Promise<string>;
  /** `body` is sent as JSON; `rawBody` as it is. The answer's body is parsed as JSON. */
  call(method: string, path: string, options?: { token?: string; body?: unknown; rawBody?: string }): Promise<ApiResponse>;
  close(): Promise<void>;
}

export async function startTestStack(options: TestStackOptions = {}): Promise<ConsentTestStack> {
  const local = await startLocalTestStack(options);
  const p = local.stack.identity.principals;
  const kmsClients = new Map<PrincipalName, KMSClient>();
  return {
    local,
    stack: local.stack,
    clock: local.clock,
    roles: { ingest: p.ingest.arn, steward: p.steward.arn, export: p.export.arn, purge: p.purge.arn, auditor: p.auditor.arn, training: p.training.arn },
    ledger: new Ledger(local.documents('admin'), LOCAL_RESOURCES.tables.ledger),
    s3: local.s3('admin'),
    kms(name) {
      let client = kmsClients.get(name);
      if (!client) {
        client = local.kms(name);
        kmsClients.set(name, client);
      }
      return client;
    },
    token: (employeeId, scope, ttlSeconds) => local.token(employeeId, scope, ttlSeconds),
    async call(method, path, { token, body, rawBody } = {}) {
      const sent = rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
      const response = await local.request(method, path, {
        ...(token === undefined ? {} : { token }),
        ...(sent === undefined ? {} : { body: sent, headers: { 'content-type': 'application/json' } }),
      });
      return { status: response.status, headers: response.headers, body: response.text === '' ? {} : response.json() };
    },
    close: () => local.close(),
  };
}

/**
 * The test file's stack: started before its first test, closed after its last, shared by all its
 * tests (a stack costs a second or more of CPU to start; a test a few milliseconds). Call it once
 * at the top of the file and read `.current` in tests and hooks; each test uses its own employee
 * ids, so the tests stay independent of one another and of their order.
 */
export function useTestStack(options: TestStackOptions = {}): { readonly current: ConsentTestStack } {
  let stack: ConsentTestStack | undefined;
  beforeAll(async () => {
    stack = await startTestStack(options);
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  });
  return {
    get current(): ConsentTestStack {
      if (stack === undefined) throw new Error('useTestStack(): the stack starts in beforeAll; read .current inside a test or hook');
      return stack;
    },
  };
}

export const NOTICE = { noticeVersion: '2026-11', noticeSha256: 'b'.repeat(64) };

const MINUTE_MS = 60_000;

/**
 * A consent to clicks granted at `base`, paused from `base` + 1 minute (for 40), resumed at
 * `base` + 5 minutes: run in-process, as the employee, on a clock set to those instants, so a test
 * can date events before, inside and after a real pause minutes in the past.
 */
export async function grantPauseResumeAt(t: ConsentTestStack, employeeId: string, base: number): Promise<void> {
  let now = base;
  const backdated = inProcessConsent(t.local, { now: () => new Date(now) });
  try {
    await backdated.service.apply(employeeId, { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor(employeeId));
    now = base + MINUTE_MS;
    await backdated.service.apply(employeeId, { type: 'pause', until: new Date(base + 40 * MINUTE_MS) }, employeeActor(employeeId));
    now = base + 5 * MINUTE_MS;
    await backdated.service.apply(employeeId, { type: 'resume' }, employeeActor(employeeId));
  } finally {
    backdated.destroy();
  }
}
