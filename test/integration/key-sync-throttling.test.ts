// The key-sync worker under a KMS throttling storm longer than the queue's maxReceiveCount: it
// backs off, then queues the job again with a delay, so the job ends applied and never reaches
// the dead-letter queue. Driven through a local SQS queue with the contract's maxReceiveCount,
// with the real worker code, KeySteward and ledger, and an SDK fault on PutKeyPolicy.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetKeyPolicyCommand } from '@aws-sdk/client-kms';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '../../contract/queues.js';
import { createKeySyncHandler } from '../../lambdas/key-sync/key-sync-worker.js';
import { KeyPolicySync } from '../../lambdas/shared/key-policy-sync.js';
import { Ledger } from '../../lambdas/shared/ledger.js';
import { startLocalQueues, type LocalQueues } from '../../local/queue.js';
import { localQueueName } from '../../local/resource-names.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { employeeActor, inProcessConsent, silentLogger, type InProcessConsent } from '../support/in-process-services.js';
import { startTestStack, type TestStack } from '../support/local-stack.js';
import { FaultPlan, serviceError } from '../support/sdk-faults.js';

const NOTICE = { noticeVersion: 'v1', noticeSha256: 'e'.repeat(64) };
const QUEUE = localQueueName('keySync');
const { maxReceiveCount } = QUEUES.keySync;
/** Attempts of one job per invocation in this test's worker. */
const ATTEMPTS = 3;

let t: TestStack;
let consent: InProcessConsent;
let faults: FaultPlan;
let queues: LocalQueues;
let sqs: SQSClient;
let dir: string;

const lambdaContext = { getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

beforeAll(async () => {
  // These tests plant stale key policies by writing them, as a role change leaves keys without any
  // write. The stack's policy-watch would see the write and repair it (test/e2e/policy-watch.test.ts),
  // racing the test, so here it is a fixture that only acknowledges its deliveries.
  t = await startTestStack({ functions: { 'policy-watch': { entry: 'test/fixtures/queue-handler.ts' } } });
  faults = new FaultPlan();
  consent = inProcessConsent(t, { faults });
  // A second queue of the same name (so the same ARN and IAM policies as the stack's key-sync
  // queue), consumed by the worker under test instead of the stack's own.
  dir = mkdtempSync(join(tmpdir(), 'cc-key-sync-'));
  queues = await startLocalQueues({
    queuesDir: join(dir, 'queues'),
    dlqDir: join(dir, 'dlq'),
    identity: t.stack.identity,
    queues: [{ name: QUEUE, batchSize: 10, maxReceiveCount, retryDelayMs: () => 5 }],
    onNote: () => undefined,
  });
  // key-sync runs as the steward role, which may send to its own queue.
  const { accessKeyId, secretAccessKey } = t.stack.identity.principals.steward;
  sqs = new SQSClient({ region: t.stack.identity.region, endpoint: queues.url, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
  const handler = createKeySyncHandler({
    sync: new KeyPolicySync(new Ledger(t.documents('steward'), LOCAL_RESOURCES.tables.ledger), consent.steward),
    sqs,
    queueUrl: queues.queueUrl(QUEUE),
    logger: silentLogger('key-sync'),
    attemptsPerInvocation: ATTEMPTS,
    backoffMs: () => 1,
    deferSeconds: () => 0,
  });
  queues.consume(QUEUE, (event) => handler(event, lambdaContext), 'steward');
}, 60_000);

afterAll(async () => {
  sqs?.destroy();
  consent?.destroy();
  await queues?.close();
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function keyPolicySids(keyArn: string): Promise<string[]> {
  const policy = await t.kms('steward').send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }));
  return (JSON.parse(policy.Policy ?? '{}') as { Statement: { Sid: string }[] }).Statement.map((s) => s.Sid);
}

describe('key-sync under a KMS throttling storm', () => {
  it('applies the job after more throttles than maxReceiveCount allows, without dead-lettering it', async () => {
    // Arrange: a pause recorded in the ledger whose key still carries the granted policy.
    const granted = await consent.service.apply('e-storm', { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor('e-storm'));
    const paused = await consent.service.apply('e-storm', { type: 'pause', until: new Date(Date.now() + 3_600_000) }, employeeActor('e-storm'));
    await consent.steward.applyPolicy(granted.keyArn ?? '', granted);
    expect(await keyPolicySids(granted.keyArn ?? '')).not.toContain('Paused');
    const throttles = maxReceiveCount * ATTEMPTS * 2;
    faults.arm({ match: (c) => c.command === 'PutKeyPolicyCommand', times: throttles, error: () => serviceError('ThrottlingException', 400) });

    // Act
    await sqs.send(new SendMessageCommand({ QueueUrl: queues.queueUrl(QUEUE), MessageBody: JSON.stringify({ employeeId: 'e-storm', sequence: paused.sequence }) }));
    await queues.idle(QUEUE, 20_000);

    // Assert: every throttle fired, the key has the pause, nothing was dead-lettered.
    expect(faults.pending()).toBe(0);
    expect(faults.injected()).toHaveLength(throttles);
    expect(await keyPolicySids(granted.keyArn ?? '')).toContain('Paused');
    expect(queues.deadLetters(QUEUE)).toEqual([]);
    expect(queues.stats(QUEUE).deadLettered).toBe(0);
  });

  it('still dead-letters a job that fails for another reason, after maxReceiveCount receives', async () => {
    // Arrange
    faults.clear();
    const granted = await consent.service.apply('e-broken', { type: 'grant', scopes: ['clicks'], ...NOTICE }, employeeActor('e-broken'));
    faults.arm({ match: (c) => c.command === 'PutKeyPolicyCommand', times: 100, error: () => serviceError('KMSInvalidStateException', 400) });

    // Act
    await sqs.send(new SendMessageCommand({ QueueUrl: queues.queueUrl(QUEUE), MessageBody: JSON.stringify({ employeeId: 'e-broken', sequence: granted.sequence }) }));
    await queues.idle(QUEUE, 20_000);

    // Assert
    const letters = queues.deadLetters(QUEUE);
    expect(letters.map((l) => JSON.parse(l.body) as unknown)).toEqual([{ employeeId: 'e-broken', sequence: granted.sequence }]);
    expect(letters[0]?.receiveCount).toBe(maxReceiveCount);
    faults.clear();
  });
});
