// Training datasets over HTTP against the local stack, with 12 employees: 10 consent to clicks and
// keystrokes, 1 to clicks only, 1 never. A keystrokes dataset is a manifest of exactly the 10's
// keystroke objects with their consent lineage; the training role decrypts them through per-employee,
// per-scope grants and nothing else; a withdrawal or a narrowing revokes that employee's part at
// once (recorded as datasets-withdrawn) without rebuilding anything; expiry retires every grant.
import { CreateGrantCommand, ListGrantsCommand } from '@aws-sdk/client-kms';
import { CopyObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATASET_MANIFEST_FORMAT, datasetManifestLineSchema, type DatasetManifestLine } from '../../contract/dataset-manifest.js';
import { datasetStatusResponse, consentDatasetsResponse } from '../../contract/datasets.js';
import { EVENTS_FROM_METADATA, EVENTS_TO_METADATA } from '../../contract/resources.js';
import type { PrincipalName } from '../../local/principals.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch } from '../support/capture-batches.js';
import { NOTICE, startTestStack, type ConsentTestStack } from '../support/consent-api.js';
import { canonical, exportApi, type ExportApi } from '../support/export-api.js';
import { httpEvent } from '../support/ingest-http-event.js';
import { pollUntil } from '../support/local-stack.js';
import { captureObjectKeys, decryptCaptureAs, employeeKeyArn } from '../support/capture-objects.js';
import { DatasetReader, LINEAGE_FIELDS, type DatasetRecord } from '../../datasets/reader/index.js';

const { captures, exports: exportsBucket } = LOCAL_RESOURCES.buckets;

const BOTH = Array.from({ length: 10 }, (_, i) => `e-ds-${String(i + 1).padStart(2, '0')}`);
const CLICKS_ONLY = 'e-ds-11';
const NEVER = 'e-ds-12';
const [A = '', WITHDRAWS = '', NARROWS = '', ERASES = '', , , , , , B = ''] = BOTH;
const PURPOSE = 'train a next-word suggestion model for the internal editor';

let t: ConsentTestStack;
let api: ExportApi;
/** Per employee, the keystroke events stored for them (redacted), as the objects must hold them. */
const storedKeystrokes = new Map<string, Record<string, unknown>[]>();
let platform = '';

beforeAll(async () => {
  t = await startTestStack();
  api = exportApi(t);
  platform = await t.token('ml-platform', 'datasets:build');
  for (const employeeId of BOTH) await api.consent(employeeId, ['keystrokes', 'clicks']);
  await api.consent(CLICKS_ONLY, ['clicks']);
  for (const employeeId of [...BOTH, CLICKS_ONLY]) {
    const consented = employeeId === CLICKS_ONLY ? ['clicks'] : ['keystrokes', 'clicks'];
    const lines = await api.capture(employeeId, captureBatch({ perKind: 2, kinds: ['keystroke', 'click'] }), consented);
    storedKeystrokes.set(employeeId, lines.filter((line) => line['scope'] === 'keystrokes').map(storedEvent));
  }
  // The one who never consented: ingest refuses everything.
  const refused = await t.call('POST', '/v1/events', { token: await t.token(NEVER, 'capture:write'), body: captureBatch({ perKind: 2 }) });
  expect(refused.status).toBe(403);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

/** A line as an export gives it, back to the event as stored in the object. */
function storedEvent(line: Record<string, unknown>): Record<string, unknown> {
  const { scope: _scope, batchId: _batchId, deviceId: _deviceId, ...event } = line;
  return event;
}

/** Reads the dataset's manifest from S3 the way a training job does: the reader, as the training role. */
async function readAsTrainingJob(manifestKey: string): Promise<{ readonly records: DatasetRecord[]; readonly reader: DatasetReader }> {
  const reader = new DatasetReader({ s3: t.local.s3('training'), kms: t.local.kms('training'), keyAccounts: [t.stack.identity.account] });
  const records: DatasetRecord[] = [];
  for await (const record of reader.records({ kind: 's3', bucket: exportsBucket, key: manifestKey })) records.push(record);
  return { records, reader };
}

/** A record without its lineage fields: the event as stored in the object. */
function eventOf(record: DatasetRecord): Record<string, unknown> {
  const event: Record<string, unknown> = { ...record };
  for (const field of LINEAGE_FIELDS) delete event[field];
  return event;
}

const keyArnOf = (employeeId: string): Promise<string> => employeeKeyArn(t, employeeId);
const objectKeys = (employeeId: string, scope: string): Promise<string[]> => captureObjectKeys(t, employeeId, scope);
const decryptAs = (principal: PrincipalName, employeeId: string, key: string): Promise<Record<string, unknown>[] | string> => decryptCaptureAs(t, principal, employeeId, key);

async function bytesOf(bucket: string, key: string, as: PrincipalName = 'admin'): Promise<Uint8Array> {
  const object = await t.local.s3(as).send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
}

async function requestDataset(body: Record<string, unknown>, token = platform) {
  return t.call('POST', '/v1/datasets', { token, body });
}

async function datasetStatus(datasetId: string) {
  const response = await t.call('GET', `/v1/datasets/${datasetId}`, { token: platform });
  expect(response.status).toBe(200);
  return datasetStatusResponse.parse(response.body);
}

async function manifestOf(key: string): Promise<{ header: Record<string, unknown>; lines: DatasetManifestLine[]; text: string }> {
  // Read as the training role: the one that must be able to.
  const text = Buffer.from(await bytesOf(exportsBucket, key, 'training')).toString('utf8');
  const [header = '', ...rest] = text.trim().split('\n');
  return { header: JSON.parse(header) as Record<string, unknown>, lines: rest.map((line) => datasetManifestLineSchema.parse(JSON.parse(line))), text };
}

function sqsEvent(body: unknown): SQSEvent {
  const now = String(Date.now());
  return {
    Records: [
      {
        messageId: `m-${now}`,
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

const ACCESS_DENIED = /AccessDenied/;

describe('a keystrokes dataset of 12 employees', () => {
  let datasetId = '';
  let manifestKey = '';
  let manifestText = '';
  let lines: DatasetManifestLine[] = [];
  /** Objects planted where no consent covers them: captured while paused, and before consent. */
  const planted: string[] = [];

  beforeAll(async () => {
    // Backdating: A pauses and resumes; an object whose events fall in the pause is planted (as an
    // in-flight ingest racing the pause could leave one), and one from before A's consent.
    const token = await t.token(A, 'consent:manage');
    expect((await t.call('POST', '/v1/consent/pause', { token, body: { minutes: 60 } })).status).toBe(200);
    expect((await t.call('POST', '/v1/consent/resume', { token, body: {} })).status).toBe(200);
    const events = await t.ledger.events(A);
    const pausedAt = Date.parse(events.find((e) => e.kind === 'paused')?.at ?? '');
    const resumedAt = Date.parse(events.find((e) => e.kind === 'resumed')?.at ?? '');
    const grantedAt = Date.parse(events.find((e) => e.kind === 'granted')?.at ?? '');
    expect(resumedAt).toBeGreaterThan(pausedAt);
    const [source = ''] = await objectKeys(A, 'keystrokes');
    const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
    for (const [name, ts] of [['b-planted-paused', pausedAt + Math.floor((resumedAt - pausedAt) / 2)], ['b-planted-before', grantedAt - 60_000]] as const) {
      const key = `captures/${A}/keystrokes/${day}/${name}`;
      await t.s3.send(
        new CopyObjectCommand({
          Bucket: captures,
          Key: key,
          CopySource: `${captures}/${source}`,
          MetadataDirective: 'REPLACE',
          Metadata: { format: 'jsonl+gzip', events: '2', [EVENTS_FROM_METADATA]: String(ts), [EVENTS_TO_METADATA]: String(ts) },
        }),
      );
      planted.push(key);
    }

    // The training role holds no grant yet: it cannot decrypt anyone's keystrokes.
    const [bKeystrokes = ''] = await objectKeys(B, 'keystrokes');
    expect(await decryptAs('training', B, bKeystrokes)).toMatch(ACCESS_DENIED);

    const hour = 60 * 60 * 1000;
    const accepted = await requestDataset({ scopes: ['keystrokes'], from: new Date(Date.now() - hour).toISOString(), to: new Date(Date.now() + 10 * 60_000).toISOString(), purpose: PURPOSE });
    expect(accepted.status).toBe(202);
    datasetId = String(accepted.body['datasetId']);
    const ready = await pollUntil(async () => {
      const status = await datasetStatus(datasetId);
      return status.status === 'building' ? undefined : status;
    }, { timeoutMs: 60_000, intervalMs: 100, what: `dataset ${datasetId} built` });
    expect(ready.status).toBe('ready');
    manifestKey = ready.manifest?.key ?? '';
    const manifest = await manifestOf(manifestKey);
    expect(manifest.header['format']).toBe(DATASET_MANIFEST_FORMAT);
    lines = manifest.lines;
    manifestText = manifest.text;
  }, 120_000);

  it('answers its status with counts and where the manifest is', async () => {
    const status = await datasetStatus(datasetId);
    expect(status).toMatchObject({ status: 'ready', purpose: PURPOSE, scopes: ['keystrokes'], counts: { employees: 10, scopes: { keystrokes: { employees: 10 } } } });
    expect(status.manifest).toMatchObject({ bucket: exportsBucket, key: `datasets/${datasetId}/manifest.jsonl` });
  });

  it('lists exactly the keystroke objects of the 10, and nothing of the clicks-only or never-consenting employee', async () => {
    const expected: string[] = [];
    for (const employeeId of BOTH) expected.push(...(await objectKeys(employeeId, 'keystrokes')).filter((key) => !planted.includes(key)));
    expect(lines.map((l) => l.key).sort()).toEqual(expected.sort());
    expect(new Set(lines.map((l) => l.employeeId))).toEqual(new Set(BOTH));
    expect(lines.every((l) => l.scope === 'keystrokes' && l.bucket === captures)).toBe(true);
    expect(manifestText).not.toContain(CLICKS_ONLY);
    expect(manifestText).not.toContain(NEVER);
  });

  it('never lists an object whose events fall in a pause or before consent (backdating)', () => {
    expect(planted).toHaveLength(2);
    for (const key of planted) expect(lines.map((l) => l.key)).not.toContain(key);
  });

  it('gives each object the consent it was captured under: the grant\'s ledger sequence and notice', async () => {
    for (const employeeId of BOTH) {
      const granted = (await t.ledger.events(employeeId)).find((e) => e.kind === 'granted');
      for (const line of lines.filter((l) => l.employeeId === employeeId)) {
        expect(line.lineage).toEqual({ consentSeq: granted?.sequence, noticeVersion: NOTICE.noticeVersion, noticeSha256: NOTICE.noticeSha256 });
        expect(line.events).toBe(2);
      }
    }
  });

  it('decrypts, as the training role, to exactly the stored keystroke events of each of the 10', async () => {
    for (const employeeId of BOTH) {
      const read: Record<string, unknown>[] = [];
      for (const line of lines.filter((l) => l.employeeId === employeeId)) {
        const events = await decryptAs('training', employeeId, line.key);
        if (typeof events === 'string') throw new Error(`${line.key}: ${events}`);
        read.push(...events);
      }
      expect(canonical(read)).toEqual(canonical(storedKeystrokes.get(employeeId) ?? []));
    }
  });

  it('streams, through the training job\'s reader, exactly the stored keystroke events of the 10, each with its lineage', async () => {
    const { records, reader } = await readAsTrainingJob(manifestKey);
    expect(reader.summary).toMatchObject({ objects: lines.length, withdrawn: 0, missing: 0, corrupt: 0 });
    for (const employeeId of BOTH) {
      const theirs = records.filter((r) => r.employeeId === employeeId);
      expect(canonical(theirs.map(eventOf))).toEqual(canonical(storedKeystrokes.get(employeeId) ?? []));
      const granted = (await t.ledger.events(employeeId)).find((e) => e.kind === 'granted');
      for (const record of theirs) {
        expect(record).toMatchObject({ scope: 'keystrokes', consentSeq: granted?.sequence, noticeVersion: NOTICE.noticeVersion, noticeSha256: NOTICE.noticeSha256 });
      }
    }
    expect(records.filter((r) => r.employeeId === CLICKS_ONLY || r.employeeId === NEVER)).toEqual([]);
  });

  it('writes a Croissant card with RAI fields and a markdown card beside the manifest', async () => {
    const card = JSON.parse(Buffer.from(await bytesOf(exportsBucket, `datasets/${datasetId}/card.json`, 'training')).toString('utf8')) as Record<string, unknown>;
    expect(card['conformsTo']).toBe('http://mlcommons.org/croissant/1.0');
    expect(card['@type']).toBe('sc:Dataset');
    expect(card['rai:dataUseCases']).toEqual(expect.arrayContaining([`Purpose as requested: ${PURPOSE}`, expect.stringMatching(/no inference of emotions.*Article 5\(1\)\(f\)/), expect.stringMatching(/performance evaluation.*Annex III, point 4\(b\)/)]));
    expect(card['rai:dataCollectionRawData']).toContain('keystrokes: 10 objects, 20 events, 10 employees');
    expect(card['cr:consentNotices']).toEqual([{ version: NOTICE.noticeVersion, sha256: NOTICE.noticeSha256 }]);
    expect(String(card['rai:dataReleaseMaintenancePlan'])).toContain((await datasetStatus(datasetId)).expiresAt);
    expect((card['rai:dataPreprocessingProtocol'] as string[]).join(' ')).toMatch(/secure.*dropped/);
    const markdown = Buffer.from(await bytesOf(exportsBucket, `datasets/${datasetId}/README.md`, 'training')).toString('utf8');
    expect(markdown).toContain('| keystrokes | 10 | 10 | 20 |');
    expect(markdown).toMatch(/no inference of emotions/);
  });

  it('shows each of the 10 the dataset in GET /v1/consent/datasets, and nothing to the other two', async () => {
    const mine = await t.call('GET', '/v1/consent/datasets', { token: await t.token(B, 'consent:manage') });
    expect(mine.status).toBe(200);
    const parsed = consentDatasetsResponse.parse(mine.body);
    expect(parsed.datasets).toEqual([{ datasetId, purpose: PURPOSE, scopes: ['keystrokes'], createdAt: expect.any(String), expiresAt: expect.any(String), status: 'ready' }]);
    for (const other of [CLICKS_ONLY, NEVER]) {
      const none = await t.call('GET', '/v1/consent/datasets', { token: await t.token(other, 'consent:manage') });
      expect(none.body).toEqual({ datasets: [] });
    }
  });

  it('lets the training role decrypt A\'s keystrokes but not A\'s clicks, nor the clicks-only employee\'s clicks', async () => {
    const [keystrokes = ''] = lines.filter((l) => l.employeeId === A).map((l) => l.key);
    const [clicks = ''] = await objectKeys(A, 'clicks');
    const [otherClicks = ''] = await objectKeys(CLICKS_ONLY, 'clicks');
    expect(await decryptAs('training', A, keystrokes)).toEqual(expect.any(Array));
    expect(await decryptAs('training', A, clicks)).toMatch(ACCESS_DENIED);
    expect(await decryptAs('training', CLICKS_ONLY, otherClicks)).toMatch(ACCESS_DENIED);
  });

  it('lets an administrator decrypt nothing', async () => {
    const [keystrokes = ''] = lines.filter((l) => l.employeeId === A).map((l) => l.key);
    expect(await decryptAs('admin', A, keystrokes)).toMatch(ACCESS_DENIED);
  });

  it('refuses a request below minEmployees with 422, and one for a scope too few consent to', async () => {
    const window = { from: new Date(Date.now() - 60_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString(), purpose: PURPOSE };
    const above = await requestDataset({ scopes: ['keystrokes'], minEmployees: 11, ...window });
    expect(above.status).toBe(422);
    expect(above.body.error).toBe('too-few-employees');
    expect((await requestDataset({ scopes: ['app-focus'], ...window })).status).toBe(422);
    expect((await requestDataset({ scopes: ['keystrokes', 'app-focus'], ...window })).status).toBe(422);
  });

  it('refuses a minEmployees below the floor of 10 (400): the floor is not the caller\'s to lower', async () => {
    const response = await requestDataset({ scopes: ['keystrokes'], minEmployees: 2, from: new Date(Date.now() - 60_000).toISOString(), to: new Date().toISOString(), purpose: PURPOSE });
    expect(response.status).toBe(400);
  });

  it('refuses datasets to an employee\'s token and an agent\'s token (403), and their status too', async () => {
    const body = { scopes: ['keystrokes'], from: new Date(Date.now() - 60_000).toISOString(), to: new Date().toISOString(), purpose: PURPOSE };
    for (const token of [await t.token(B, 'consent:manage'), await t.token(B, 'capture:write'), await t.token('hr-1', 'capture:offboard')]) {
      expect((await requestDataset(body, token)).status).toBe(403);
      expect((await t.call('GET', `/v1/datasets/${datasetId}`, { token })).status).toBe(403);
    }
    expect((await t.call('GET', '/v1/consent/datasets', { token: platform })).status).toBe(403);
  });

  it('refuses those tokens in the function too, should a route ever be misconfigured (defence in depth)', async () => {
    const body = { scopes: ['keystrokes'], from: new Date(Date.now() - 60_000).toISOString(), to: new Date().toISOString(), purpose: PURPOSE };
    for (const scopes of [['consent:manage'], ['capture:write'], ['capture:offboard']]) {
      const created = (await t.stack.invoke('consent', httpEvent({ employeeId: B, scopes, routeKey: 'POST /v1/datasets', body }))) as { statusCode: number };
      const read = (await t.stack.invoke('consent', { ...httpEvent({ employeeId: B, scopes, routeKey: 'GET /v1/datasets/{datasetId}' }), pathParameters: { datasetId } })) as { statusCode: number };
      expect([created.statusCode, read.statusCode]).toEqual([403, 403]);
    }
    const mine = (await t.stack.invoke('consent', httpEvent({ employeeId: 'ml-platform', scopes: ['datasets:build'], routeKey: 'GET /v1/consent/datasets' }))) as { statusCode: number };
    expect(mine.statusCode).toBe(403);
  });

  it('cannot get a grant for an unconsented scope: not by asking the steward, not as the steward itself', async () => {
    const asked = await t.stack.invoke('key-steward', { action: 'training-grant', employeeId: CLICKS_ONLY, datasetId: 'd-forged', scopes: ['keystrokes'] });
    expect(asked).toMatchObject({ ok: true, scopes: [] });
    const keyArn = await keyArnOf(CLICKS_ONLY);
    // The steward role itself (a compromised steward): the key policy refuses the constraint.
    const forged = t.kms('steward').send(
      new CreateGrantCommand({ KeyId: keyArn, Name: 'dataset:d-forged:keystrokes', GranteePrincipal: t.roles.training ?? '', Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId: CLICKS_ONLY, scope: 'keystrokes' } } }),
    );
    await expect(forged).rejects.toMatchObject({ name: 'AccessDeniedException' });
    const unscoped = t.kms('steward').send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: t.roles.training ?? '', Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId: CLICKS_ONLY } } }));
    await expect(unscoped).rejects.toMatchObject({ name: 'AccessDeniedException' });
    const grants = await t.kms('steward').send(new ListGrantsCommand({ KeyId: keyArn }));
    expect((grants.Grants ?? []).filter((g) => g.GranteePrincipal === t.roles.training)).toEqual([]);
  });

  it('a withdrawal without erasure makes that employee\'s objects undecryptable at once; the other 9 still decrypt; nothing is rebuilt', async () => {
    const before = await datasetStatus(datasetId);
    const revoked = await t.call('POST', '/v1/consent/revoke', { token: await t.token(WITHDRAWS, 'consent:manage'), body: { erase: false } });
    expect(revoked.status).toBe(200);

    for (const line of lines) {
      const outcome = await decryptAs('training', line.employeeId, line.key);
      if (line.employeeId === WITHDRAWS) expect(outcome).toMatch(ACCESS_DENIED);
      else expect(outcome).toEqual(expect.any(Array));
    }
    // The training job's reader, on the same manifest: that employee's objects count as withdrawn and yield nothing.
    const { records, reader } = await readAsTrainingJob(manifestKey);
    expect(reader.summary.withdrawn).toBe(lines.filter((l) => l.employeeId === WITHDRAWS).length);
    expect(reader.summary.withdrawn).toBeGreaterThan(0);
    expect(records.filter((r) => r.employeeId === WITHDRAWS)).toEqual([]);
    expect(new Set(records.map((r) => r.employeeId)).size).toBe(BOTH.length - 1);
    const withdrawn = (await t.ledger.events(WITHDRAWS)).filter((e) => e.kind === 'datasets-withdrawn');
    expect(withdrawn.map((e) => e.details)).toEqual([{ datasets: [{ datasetId, scopes: ['keystrokes'] }] }]);
    // The same manifest, not rewritten, and the same dataset.
    expect((await manifestOf(manifestKey)).text).toBe(manifestText);
    expect(await datasetStatus(datasetId)).toEqual(before);
  });

  it('a narrowing that drops keystrokes revokes that employee\'s keystroke grant in the same change', async () => {
    const narrowed = await t.call('POST', '/v1/consent', { token: await t.token(NARROWS, 'consent:manage'), body: { scopes: ['clicks'], ...NOTICE } });
    expect(narrowed.status).toBe(200);
    const [key = ''] = lines.filter((l) => l.employeeId === NARROWS).map((l) => l.key);
    expect(await decryptAs('training', NARROWS, key)).toMatch(ACCESS_DENIED);
    const recorded = (await t.ledger.events(NARROWS)).filter((e) => e.kind === 'datasets-withdrawn');
    expect(recorded.map((e) => e.details)).toEqual([{ datasets: [{ datasetId, scopes: ['keystrokes'] }] }]);
    expect((await t.ledger.latestEvent(NARROWS))?.state.status).toBe('active');
  });

  it('an erasure records which datasets lost which scopes in the same change, and that part no longer decrypts', async () => {
    const [key = ''] = lines.filter((l) => l.employeeId === ERASES).map((l) => l.key);
    const erased = await t.call('POST', '/v1/consent/revoke', { token: await t.token(ERASES, 'consent:manage'), body: { erase: true } });
    expect(erased.status).toBe(200);
    const recorded = (await t.ledger.events(ERASES)).filter((e) => e.kind === 'datasets-withdrawn');
    expect(recorded.map((e) => [e.state.status, e.details])).toEqual([['purging', { datasets: [{ datasetId, scopes: ['keystrokes'] }] }]]);
    // The grant is gone, the key is being shredded and the object deleted: whichever comes first, no plaintext.
    expect(await decryptAs('training', ERASES, key).catch((error: unknown) => String(error))).toEqual(expect.any(String));
  });

  it('the sweeper retires every grant of an expired dataset and marks it expired', async () => {
    // Arrange: the dataset's expiry passes (set in the table, as time would).
    await t.local.documents('admin').send(
      new UpdateCommand({ TableName: LOCAL_RESOURCES.tables.datasets, Key: { pk: `dataset#${datasetId}`, sk: 'dataset' }, UpdateExpression: 'SET expiresAt = :past', ExpressionAttributeValues: { ':past': new Date(Date.now() - 1000).toISOString() } }),
    );
    const [key = ''] = lines.filter((l) => l.employeeId === B).map((l) => l.key);
    expect(await decryptAs('training', B, key)).toEqual(expect.any(Array));

    // Act: the schedule's job, as EventBridge Scheduler queues it.
    const answer = await t.stack.invoke('datasets', sqsEvent({ kind: 'sweep' }));

    // Assert
    expect(answer).toEqual({ batchItemFailures: [] });
    expect((await datasetStatus(datasetId)).status).toBe('expired');
    for (const line of lines.filter((l) => l.employeeId !== ERASES)) expect(await decryptAs('training', line.employeeId, line.key)).toMatch(ACCESS_DENIED);
    const grants = await t.kms('steward').send(new ListGrantsCommand({ KeyId: await keyArnOf(B) }));
    expect((grants.Grants ?? []).filter((g) => g.GranteePrincipal === t.roles.training)).toEqual([]);
    const mine = await t.call('GET', '/v1/consent/datasets', { token: await t.token(B, 'consent:manage') });
    expect(consentDatasetsResponse.parse(mine.body).datasets.map((d) => d.status)).toEqual(['expired']);
  });
});
