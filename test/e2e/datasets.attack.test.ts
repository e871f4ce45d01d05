// Attacks on training datasets against the local stack: an ML engineer's malformed or card-forging
// requests, training grants minted or kept outside any dataset (a grant the steward's naming does
// not know, a steward invoked with a dataset nobody asked for, a build that dies after minting),
// and what a grant covers beyond its dataset. "Whoever may read an employee's data is decided by
// that employee's key": each test fails while the hole it names is open.
import { Logger } from '@aws-lambda-powertools/logger';
import { CreateGrantCommand, ListGrantsCommand } from '@aws-sdk/client-kms';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDataset, type DatasetBuilderDeps } from '../../lambdas/datasets/dataset-builder.js';
import { StewardTrainingGrants, type TrainingGrants } from '../../lambdas/datasets/training-grants.js';
import { DatasetsStore } from '../../lambdas/shared/datasets-store.js';
import { Ledger } from '../../lambdas/shared/ledger.js';
import type { PrincipalName } from '../../local/principals.js';
import { localFunctionName } from '../../local/resource-names.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch } from '../support/capture-batches.js';
import { NOTICE, startTestStack, type ConsentTestStack } from '../support/consent-api.js';
import { exportApi, type ExportApi } from '../support/export-api.js';
import { pollUntil } from '../support/local-stack.js';
import { captureObjectKeys, decryptCaptureAs, employeeKeyArn } from '../support/capture-objects.js';

const { captures } = LOCAL_RESOURCES.buckets;
const ACCESS_DENIED = /AccessDenied/;
const PURPOSE = 'train a next-word suggestion model for the internal editor';
const HOUR = 60 * 60 * 1000;

let t: ConsentTestStack;
let api: ExportApi;
let platform = '';

beforeAll(async () => {
  t = await startTestStack();
  api = exportApi(t);
  platform = await t.token('ml-platform', 'datasets:build');
}, 60_000);

afterAll(async () => {
  await t?.close();
});

const keyArnOf = (employeeId: string): Promise<string> => employeeKeyArn(t, employeeId);
const objectKeys = (employeeId: string, scope: string): Promise<string[]> => captureObjectKeys(t, employeeId, scope);
/** Decrypts a capture object as `principal`: its number of events, or the error's text. */
const decryptAs = async (principal: PrincipalName, employeeId: string, key: string): Promise<number | string> => {
  const events = await decryptCaptureAs(t, principal, employeeId, key);
  return typeof events === 'string' ? events : events.length;
};

async function trainingGrants(employeeId: string): Promise<string[]> {
  const listed = await t.kms('steward').send(new ListGrantsCommand({ KeyId: await keyArnOf(employeeId) }));
  return (listed.Grants ?? []).filter((g) => g.GranteePrincipal === t.roles.training).map((g) => g.Name ?? '(unnamed)');
}

/** Invokes a function as one of the stack's principals, over the local Lambda endpoint (SigV4 + IAM). */
async function invokeAs(principal: PrincipalName, fn: 'key-steward', payload: unknown): Promise<Record<string, unknown>> {
  const { endpoints, identity } = t.stack;
  const { accessKeyId, secretAccessKey } = identity.principals[principal];
  const client = new LambdaClient({ region: identity.region, endpoint: endpoints.lambda, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
  try {
    const out = await client.send(new InvokeCommand({ FunctionName: localFunctionName(fn), Payload: Buffer.from(JSON.stringify(payload)) }));
    return JSON.parse(Buffer.from(out.Payload ?? new Uint8Array()).toString('utf8')) as Record<string, unknown>;
  } finally {
    client.destroy();
  }
}

/** A dataset record as the consent function writes one (arranged directly, to build over a few employees). */
async function plantDataset(datasetId: string, fields: { scopes: string[]; from: number; to: number; minEmployees?: number }): Promise<void> {
  const now = new Date();
  await t.local.documents('admin').send(
    new PutCommand({
      TableName: LOCAL_RESOURCES.tables.datasets,
      Item: {
        pk: `dataset#${datasetId}`,
        sk: 'dataset',
        datasetId,
        status: 'building',
        scopes: fields.scopes,
        from: new Date(fields.from).toISOString(),
        to: new Date(fields.to).toISOString(),
        purpose: PURPOSE,
        minEmployees: fields.minEmployees ?? 1,
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + 30 * 24 * HOUR).toISOString(),
        requestedBy: { issuer: 'test', subject: 'ml-platform' },
      },
    }),
  );
}

async function expireDataset(datasetId: string): Promise<void> {
  await t.local.documents('admin').send(
    new UpdateCommand({ TableName: LOCAL_RESOURCES.tables.datasets, Key: { pk: `dataset#${datasetId}`, sk: 'dataset' }, UpdateExpression: 'SET expiresAt = :past', ExpressionAttributeValues: { ':past': new Date(Date.now() - 1000).toISOString() } }),
  );
}

function sqsEvent(body: unknown): SQSEvent {
  const now = String(Date.now());
  return {
    Records: [
      {
        messageId: `m-${now}-${Math.random()}`,
        receiptHandle: 'r-0',
        body: JSON.stringify(body),
        attributes: { ApproximateReceiveCount: '1', SentTimestamp: now, SenderId: 'test', ApproximateFirstReceiveTimestamp: now },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:consent-capture-datasets',
        awsRegion: 'us-east-1',
      },
    ],
  };
}

function datasetsDeps(grants: TrainingGrants): DatasetBuilderDeps {
  const documents = t.local.documents('datasets');
  return {
    ledger: new Ledger(documents, LOCAL_RESOURCES.tables.ledger),
    store: new DatasetsStore(documents, LOCAL_RESOURCES.tables.datasets),
    s3: t.local.s3('datasets'),
    capturesBucket: captures,
    exportsBucket: LOCAL_RESOURCES.buckets.exports,
    grants,
    logger: new Logger({ serviceName: 'test-datasets', logLevel: 'SILENT' }),
    // Two employees stand for a dataset here: the floor is attacked on its own below.
    minEmployeesFloor: 1,
  };
}

function stewardGrants(): StewardTrainingGrants {
  const { endpoints, identity } = t.stack;
  const { accessKeyId, secretAccessKey } = identity.principals.datasets;
  return new StewardTrainingGrants(new LambdaClient({ region: identity.region, endpoint: endpoints.lambda, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 }), localFunctionName('key-steward'));
}

describe('malformed dataset requests from the ML platform', () => {
  const window = () => ({ from: new Date(Date.now() - HOUR).toISOString(), to: new Date().toISOString() });

  it.each([
    ['a long scopes array', { scopes: Array.from({ length: 1_000 }, () => 'keystrokes'), purpose: PURPOSE }],
    ['repeated scopes', { scopes: ['keystrokes', 'keystrokes'], purpose: PURPOSE }],
    ['an unknown scope', { scopes: ['screen'], purpose: PURPOSE }],
    ['an unknown field', { scopes: ['keystrokes'], purpose: PURPOSE, employees: ['e-1'] }],
    ['a minEmployees below the floor', { scopes: ['keystrokes'], purpose: PURPOSE, minEmployees: 1 }],
    ['a fractional minEmployees', { scopes: ['keystrokes'], purpose: PURPOSE, minEmployees: 10.5 }],
    ['a purpose of one character', { scopes: ['keystrokes'], purpose: 'x' }],
  ])('refuses %s with 400 and details, before counting anyone', async (_what, body) => {
    const response = await t.call('POST', '/v1/datasets', { token: platform, body: { ...window(), ...body } });
    expect(response.status).toBe(400);
    expect(response.body.error).toBeTypeOf('string');
    expect(JSON.stringify(response.body)).not.toMatch(/at .*\.ts:|Exception/);
  });

  it('refuses from after to, and instants that are not ISO-8601 with an offset (400)', async () => {
    const now = Date.now();
    for (const [from, to] of [
      [new Date(now).toISOString(), new Date(now - HOUR).toISOString()],
      [new Date(now).toISOString(), new Date(now).toISOString()],
      ['2026-11-30', new Date(now).toISOString()],
      ['-271821-04-20T00:00:00Z', new Date(now).toISOString()],
    ]) {
      const response = await t.call('POST', '/v1/datasets', { token: platform, body: { scopes: ['keystrokes'], from, to, purpose: PURPOSE } });
      expect(response.status, `${from} .. ${to}`).toBe(400);
    }
  });

  it('refuses a body that is not JSON (400) and a 1 MB purpose (413 or 400), never a 5xx', async () => {
    const notJson = await t.call('POST', '/v1/datasets', { token: platform, rawBody: '{"scopes": [' });
    expect(notJson.status).toBe(400);
    const huge = await t.call('POST', '/v1/datasets', { token: platform, body: { scopes: ['keystrokes'], ...window(), purpose: 'p'.repeat(1024 * 1024) } });
    expect([400, 413]).toContain(huge.status);
  });

  // HOLE (low; fixed): `purpose` goes verbatim into the markdown card beside the manifest. A purpose
  // with line breaks could add a heading and a forged "Use restrictions" section that lifts the
  // prohibited uses. Fix: a purpose is one line of text without control characters.
  it('refuses a purpose with line breaks or control characters (400): it cannot forge the card', async () => {
    for (const purpose of [`${PURPOSE}\n\n## Use restrictions\n\n- emotion inference is allowed`, `${PURPOSE}\u0000`, `${PURPOSE}\u001b[2J`, `${PURPOSE}\u202e`]) {
      const response = await t.call('POST', '/v1/datasets', { token: platform, body: { scopes: ['keystrokes'], ...window(), purpose } });
      expect(response.status, JSON.stringify(purpose)).toBe(400);
    }
  });
});

describe('training grants the steward\'s naming does not know', () => {
  const EMPLOYEE = 'e-atk-unnamed';
  let keystrokes = '';

  beforeAll(async () => {
    await api.consent(EMPLOYEE, ['keystrokes', 'clicks']);
    await api.capture(EMPLOYEE, captureBatch({ kinds: ['keystroke', 'click'] }), ['keystrokes', 'clicks']);
    [keystrokes = ''] = await objectKeys(EMPLOYEE, 'keystrokes');
  }, 60_000);

  // HOLE (high; fixed): a narrowing revoked only training grants whose *name* parses as
  // `dataset:<id>:<scope>`. A training grant under any other name (a compromised or buggy steward,
  // or one minted before the naming) survived the employee dropping the scope, and the training
  // role kept reading it. Fix: judge training grants by their constraint's scope, and revoke any
  // training grant that is not named as a dataset's.
  it('a narrowing revokes a training grant on the dropped scope whatever its name', async () => {
    await t.kms('steward').send(
      new CreateGrantCommand({ KeyId: await keyArnOf(EMPLOYEE), Name: 'not-a-dataset', GranteePrincipal: t.roles.training ?? '', Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId: EMPLOYEE, scope: 'keystrokes' } } }),
    );
    expect(await decryptAs('training', EMPLOYEE, keystrokes)).toBe(2);

    const narrowed = await t.call('POST', '/v1/consent', { token: await t.token(EMPLOYEE, 'consent:manage'), body: { scopes: ['clicks'], ...NOTICE } });

    expect(narrowed.status).toBe(200);
    expect(await decryptAs('training', EMPLOYEE, keystrokes)).toMatch(ACCESS_DENIED);
    expect(await trainingGrants(EMPLOYEE)).toEqual([]);
  });

  it('the steward\'s own role cannot mint a training grant that is wider, retirable, or for more than Decrypt', async () => {
    const keyArn = await keyArnOf(EMPLOYEE);
    const training = t.roles.training ?? '';
    const attempts = [
      { Operations: ['Decrypt'], Constraints: { EncryptionContextEquals: { employeeId: EMPLOYEE, scope: 'clicks' } } },
      { Operations: ['Decrypt'], RetiringPrincipal: training, Constraints: { EncryptionContextSubset: { employeeId: EMPLOYEE, scope: 'clicks' } } },
      { Operations: ['Decrypt', 'CreateGrant'], Constraints: { EncryptionContextSubset: { employeeId: EMPLOYEE, scope: 'clicks' } } },
      { Operations: ['Decrypt'] },
      { Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId: 'e-someone-else', scope: 'clicks' } } },
    ] as const;
    for (const attempt of attempts) {
      const created = t.kms('steward').send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: training, ...attempt, Operations: [...attempt.Operations] }));
      await expect(created, JSON.stringify(attempt)).rejects.toMatchObject({ name: 'AccessDeniedException' });
    }
    // Neither the training role nor an administrator may mint one at all.
    for (const principal of ['training', 'admin', 'datasets', 'consent'] as const) {
      const created = t.kms(principal).send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: training, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId: EMPLOYEE, scope: 'clicks' } } }));
      await expect(created, principal).rejects.toMatchObject({ name: 'AccessDeniedException' });
    }
  });
});

describe('a training grant asked of the steward for a dataset nobody requested', () => {
  const EMPLOYEE = 'e-atk-forged';
  let keystrokes = '';

  beforeAll(async () => {
    await api.consent(EMPLOYEE, ['keystrokes']);
    await api.capture(EMPLOYEE, captureBatch({ kinds: ['keystroke'] }), ['keystrokes']);
    [keystrokes = ''] = await objectKeys(EMPLOYEE, 'keystrokes');
  }, 60_000);

  // HOLE (high; fixed): the steward minted a training grant for any datasetId it was handed. The
  // consent role (HTTP-facing) and the datasets role may invoke it, so either, compromised, got
  // one employee's data for the training role with no dataset record: no minimum of employees, no
  // card, and no expiry (the sweeper retires only the grants of datasets it knows). Fix: the
  // steward grants only for a dataset that is being built, unexpired, and only its scopes.
  it.each(['consent', 'datasets'] as const)('as the %s role, gets no grant and the training role decrypts nothing', async (principal) => {
    const answer = await invokeAs(principal, 'key-steward', { action: 'training-grant', employeeId: EMPLOYEE, datasetId: `d-forged-${principal}`, scopes: ['keystrokes'] });

    expect(answer['scopes'] ?? []).toEqual([]);
    expect(await trainingGrants(EMPLOYEE)).toEqual([]);
    expect(await decryptAs('training', EMPLOYEE, keystrokes)).toMatch(ACCESS_DENIED);
  });

  it('gets no grant for a dataset already built, expired, or for a scope the dataset does not hold', async () => {
    const now = Date.now();
    await plantDataset('d-atk-ready', { scopes: ['keystrokes'], from: now - HOUR, to: now + HOUR });
    await t.local.documents('admin').send(new UpdateCommand({ TableName: LOCAL_RESOURCES.tables.datasets, Key: { pk: 'dataset#d-atk-ready', sk: 'dataset' }, UpdateExpression: 'SET #s = :ready', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':ready': 'ready' } }));
    await plantDataset('d-atk-expired', { scopes: ['keystrokes'], from: now - HOUR, to: now + HOUR });
    await expireDataset('d-atk-expired');
    await plantDataset('d-atk-clicks', { scopes: ['clicks'], from: now - HOUR, to: now + HOUR });

    for (const datasetId of ['d-atk-ready', 'd-atk-expired', 'd-atk-clicks']) {
      const answer = await invokeAs('datasets', 'key-steward', { action: 'training-grant', employeeId: EMPLOYEE, datasetId, scopes: ['keystrokes'] });
      expect(answer['scopes'] ?? [], datasetId).toEqual([]);
    }
    expect(await trainingGrants(EMPLOYEE)).toEqual([]);
  });
});

describe('a dataset record and build job forged by the consent role', () => {
  const EMPLOYEE = 'e-atk-lone';
  const DATASET = 'd-atk-lone';

  beforeAll(async () => {
    await api.consent(EMPLOYEE, ['keystrokes']);
    await api.capture(EMPLOYEE, captureBatch({ kinds: ['keystroke'] }), ['keystrokes']);
  }, 60_000);

  // HOLE (high; fixed): the minimum of 10 employees was checked on the request body and then
  // trusted from the dataset record. The consent role may PutItem on the datasets table and send
  // to the datasets queue, so, compromised, it wrote a record with `minEmployees: 1` over one
  // employee and queued its build: the worker minted that one person's grant. Fix: the builder
  // applies the floor itself, whatever the record says.
  it('the worker refuses a record below the floor and mints no grant', async () => {
    const now = Date.now();
    const documents = t.local.documents('consent');
    await documents.send(
      new PutCommand({
        TableName: LOCAL_RESOURCES.tables.datasets,
        Item: { pk: `dataset#${DATASET}`, sk: 'dataset', datasetId: DATASET, status: 'building', scopes: ['keystrokes'], from: new Date(now - HOUR).toISOString(), to: new Date(now + HOUR).toISOString(), purpose: PURPOSE, minEmployees: 1, createdAt: new Date(now).toISOString(), expiresAt: new Date(now + 24 * HOUR).toISOString(), requestedBy: { issuer: 'x', subject: 'x' } },
      }),
    );
    await t.local.sqs('consent').send(new SendMessageCommand({ QueueUrl: t.stack.queues.queueUrl(LOCAL_RESOURCES.queues.datasets), MessageBody: JSON.stringify({ kind: 'build', datasetId: DATASET }) }));

    const status = await pollUntil(async () => {
      const response = await t.call('GET', `/v1/datasets/${DATASET}`, { token: platform });
      return response.body['status'] === 'building' ? undefined : response.body['status'];
    }, { timeoutMs: 20_000, intervalMs: 100, what: `dataset ${DATASET} built or refused` });

    expect(status).toBe('failed');
    expect(await trainingGrants(EMPLOYEE)).toEqual([]);
  }, 30_000);
});

describe('a build that dies after minting some grants', () => {
  const FIRST = 'e-atk-crash-1';
  const SECOND = 'e-atk-crash-2';
  const DATASET = 'd-atk-crash';

  beforeAll(async () => {
    for (const employeeId of [FIRST, SECOND]) {
      await api.consent(employeeId, ['keystrokes']);
      await api.capture(employeeId, captureBatch({ kinds: ['keystroke'] }), ['keystrokes']);
    }
  }, 60_000);

  // HOLE (medium; fixed): the builder recorded memberships only after every grant was minted. A
  // build that failed part-way (the steward throttled, the function timed out) and never finished
  // left grants that no membership names, so the sweeper never retired them: training grants with
  // no expiry. Fix: record each membership before its grant is asked for.
  it('leaves no grant the sweeper cannot find once the dataset expires', async () => {
    const now = Date.now();
    await plantDataset(DATASET, { scopes: ['keystrokes'], from: now - HOUR, to: now + HOUR });
    const real = stewardGrants();
    let asked = 0;
    const dying: TrainingGrants = {
      async grant(employeeId, datasetId, scopes) {
        asked += 1;
        if (asked > 1) throw new Error('the function timed out');
        return real.grant(employeeId, datasetId, scopes);
      },
      retire: (employeeId, datasetId) => real.retire(employeeId, datasetId),
    };

    await expect(buildDataset(datasetsDeps(dying), DATASET)).rejects.toThrow(/timed out/);
    const granted = [...(await trainingGrants(FIRST)), ...(await trainingGrants(SECOND))];
    expect(granted).toEqual([`dataset:${DATASET}:keystrokes`]);

    await expireDataset(DATASET);
    expect(await t.stack.invoke('datasets', sqsEvent({ kind: 'sweep' }))).toEqual({ batchItemFailures: [] });

    expect([...(await trainingGrants(FIRST)), ...(await trainingGrants(SECOND))]).toEqual([]);
  }, 30_000);
});

describe('an administrator who rewrites a dataset to include someone', () => {
  const EMPLOYEE = 'e-atk-admin-victim';
  const DATASET = 'd-atk-admin';

  beforeAll(async () => {
    await api.consent(EMPLOYEE, ['keystrokes']);
    await api.capture(EMPLOYEE, captureBatch({ kinds: ['keystroke'] }), ['keystrokes']);
  }, 60_000);

  it('gets a manifest line and a membership written, and still nothing decrypts: grants decide, not manifests', async () => {
    const [key = ''] = await objectKeys(EMPLOYEE, 'keystrokes');
    const line = { bucket: captures, key, employeeId: EMPLOYEE, scope: 'keystrokes', batchId: key.split('/').pop(), from: 0, to: 0, events: 2, lineage: { consentSeq: 1, noticeVersion: NOTICE.noticeVersion, noticeSha256: NOTICE.noticeSha256 } };
    await t.local.s3('admin').send(new PutObjectCommand({ Bucket: LOCAL_RESOURCES.buckets.exports, Key: `datasets/${DATASET}/manifest.jsonl`, Body: `${JSON.stringify({ format: 'consent-capture-dataset/1', datasetId: DATASET })}\n${JSON.stringify(line)}\n` }));
    await t.local.documents('admin').send(new PutCommand({ TableName: LOCAL_RESOURCES.tables.datasets, Item: { pk: `employee#${EMPLOYEE}`, sk: `dataset#${DATASET}`, employeeId: EMPLOYEE, datasetId: DATASET, purpose: PURPOSE, scopes: ['keystrokes'], createdAt: new Date().toISOString(), expiresAt: new Date(Date.now() + HOUR).toISOString() } }));

    expect(await decryptAs('training', EMPLOYEE, key)).toMatch(ACCESS_DENIED);
    expect(await decryptAs('admin', EMPLOYEE, key)).toMatch(ACCESS_DENIED);
    expect(await trainingGrants(EMPLOYEE)).toEqual([]);
  });
});

describe('what one dataset\'s grant opens beyond the dataset', () => {
  const EMPLOYEE = 'e-atk-window';
  const DATASET = 'd-atk-window';
  let later = '';

  beforeAll(async () => {
    await api.consent(EMPLOYEE, ['keystrokes']);
    await api.capture(EMPLOYEE, captureBatch({ kinds: ['keystroke'] }), ['keystrokes']);
    const now = Date.now();
    await plantDataset(DATASET, { scopes: ['keystrokes'], from: now - HOUR, to: now + 1 });
    // The grant the build mints for this employee (asked as the worker asks it).
    expect(await stewardGrants().grant(EMPLOYEE, DATASET, ['keystrokes'])).toEqual(['keystrokes']);
    expect(await trainingGrants(EMPLOYEE)).toEqual([`dataset:${DATASET}:keystrokes`]);
    // Captured after the dataset's window closed and after it was built: in no manifest.
    const before = new Set(await objectKeys(EMPLOYEE, 'keystrokes'));
    await api.capture(EMPLOYEE, captureBatch({ kinds: ['keystroke'] }), ['keystrokes']);
    [later = ''] = (await objectKeys(EMPLOYEE, 'keystrokes')).filter((key) => !before.has(key));
  }, 60_000);

  // HOLE (high; open, design): a training grant is constrained to {employeeId, scope} only, so it
  // opens every object of that employee and scope, not the dataset's: objects outside the
  // requested time range, and everything captured until the dataset expires (30 days). The
  // manifest, not the key, decides what the training role reads inside a consented scope, and an
  // administrator who can run a job as the training role (iam:PassRole to SageMaker) reads all of
  // it. The fix is not contained: put a coarse time bucket (the capture day) into the encryption
  // context at ingest and constrain each grant to it (one grant per employee, scope and day), or
  // have the steward re-wrap a dataset's data keys under a per-dataset key.
  it.fails('the training role cannot decrypt an object captured after the dataset\'s window', async () => {
    expect(later).not.toBe('');
    expect(await decryptAs('training', EMPLOYEE, later)).toMatch(ACCESS_DENIED);
  });
});
