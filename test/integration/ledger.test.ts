// The consent ledger against local DynamoDB: the sequence is an optimistic lock, the state cache
// never moves backwards, and the events alone rebuild the state.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsentEvent, ConsentState } from '../../lambdas/shared/consent-state.js';
import { foldEvents, Ledger, LedgerIntegrityError, SequenceTakenError } from '../../lambdas/shared/ledger.js';
import { startLocalDynamoDb, type LocalDynamoDb } from '../../local/dynamodb.js';
import { loadOrCreateIdentity } from '../../local/principals.js';
import { loadTemplatePolicies } from '../../local/template-policies.js';

const TABLE = 'ledger-test';
let dir: string;
let dynamo: LocalDynamoDb;
let ledger: Ledger;
let client: DynamoDBClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cc-ledger-'));
  // The local DynamoDB authenticates every call; the administrator may use any table.
  const identity = loadOrCreateIdentity(join(dir, 'principals.json'), await loadTemplatePolicies());
  const { admin } = identity.principals;
  dynamo = await startLocalDynamoDb({ dataDir: join(dir, 'dynamodb'), tables: [TABLE], region: identity.region, credentials: admin, identity });
  client = new DynamoDBClient({ endpoint: dynamo.url, region: identity.region, credentials: { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey } });
  ledger = new Ledger(DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }), TABLE);
});
afterAll(async () => {
  client.destroy();
  await dynamo.close();
  rmSync(dir, { recursive: true, force: true });
});

function event(employeeId: string, sequence: number, overrides: Partial<ConsentState> = {}): ConsentEvent {
  const at = new Date(Date.UTC(2026, 10, 26, 12, 0, sequence)).toISOString();
  const keyArn = 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000';
  const state: ConsentState = { employeeId, status: 'active', scopes: ['clicks'], keyArn, sequence, updatedAt: at, ...overrides };
  return { employeeId, sequence, kind: sequence === 1 ? 'granted' : 'scopes-changed', at, actor: { kind: 'employee', issuer: 'https://idp.example', subject: employeeId }, state };
}

describe('Ledger', () => {
  it('appends events and reads the newest one back', async () => {
    await ledger.append(event('e-a', 1));
    await ledger.append(event('e-a', 2, { status: 'paused', pausedUntil: '2026-12-01T00:00:00.000Z' }));

    const latest = await ledger.latestEvent('e-a');

    expect(latest?.sequence).toBe(2);
    expect(latest?.state).toMatchObject({ status: 'paused', pausedUntil: '2026-12-01T00:00:00.000Z' });
  });

  it('lets exactly one of two concurrent appends of the same sequence win', async () => {
    const results = await Promise.allSettled([ledger.append(event('e-race', 1, { scopes: ['clicks'] })), ledger.append(event('e-race', 1, { scopes: ['keystrokes'] }))]);

    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected');
    expect((rejected as PromiseRejectedResult).reason).toBeInstanceOf(SequenceTakenError);
    expect(await ledger.events('e-race')).toHaveLength(1);
  });

  it('never rolls the cached state back to an older sequence', async () => {
    await ledger.writeState(event('e-cache', 3).state);
    await ledger.writeState(event('e-cache', 2, { status: 'revoked' }).state);

    expect((await ledger.readState('e-cache'))?.sequence).toBe(3);
  });

  it('keeps employees apart', async () => {
    await ledger.append(event('e-b', 1));

    expect((await ledger.events('e-b')).map((e) => e.employeeId)).toEqual(['e-b']);
    expect(await ledger.latestEvent('e-nobody')).toBeUndefined();
  });

  it('pages through long histories and rebuilds the state from them', async () => {
    // 120 events of ~9 KiB add up to more than the 1 MB a Query page holds, so the loop must page.
    const padding = 'x'.repeat(9000);
    for (let n = 1; n <= 120; n += 1) await ledger.append({ ...event('e-long', n), details: { padding } });

    const events = await ledger.events('e-long');
    const rebuilt = await ledger.rebuildState('e-long');

    expect(events.map((e) => e.sequence)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(rebuilt?.sequence).toBe(120);
    expect((await ledger.readState('e-long'))?.sequence).toBe(120);
  });
});

describe('Ledger actors', () => {
  it('reads the bare-word actors of events recorded before callers were named, as actors that say what is unknown', async () => {
    // Arrange: three events as an older version wrote them (actor a bare word).
    const legacy = (sequence: number, kind: string, actor: string, state: Partial<ConsentState> = {}) => ({
      ...event('e-legacy', sequence, state),
      kind,
      actor,
      pk: 'e-legacy',
      sk: `event#${String(sequence).padStart(10, '0')}`,
    });
    const items = [
      legacy(1, 'granted', 'employee'),
      legacy(2, 'offboarded', 'offboarding', { status: 'purging', scopes: [] }),
      legacy(3, 'purged', 'purge-worker', { status: 'purged', scopes: [] }),
    ];
    for (const Item of items) await DynamoDBDocumentClient.from(client).send(new PutCommand({ TableName: TABLE, Item }));

    // Act
    const events = await ledger.events('e-legacy');

    // Assert
    expect(events.map((e) => e.actor)).toEqual([
      { kind: 'employee', issuer: null, subject: 'e-legacy' },
      { kind: 'hr', issuer: null, subject: null },
      { kind: 'service', name: 'purge-worker' },
    ]);
  });

  it('round-trips a named HR actor', async () => {
    const hr = { kind: 'hr', issuer: 'https://idp.corp.example', subject: 'hr.admin@corp.example' } as const;
    await ledger.append({ ...event('e-hr', 1, { status: 'purging', scopes: [] }), kind: 'offboarded', actor: hr });

    expect((await ledger.latestEvent('e-hr'))?.actor).toEqual(hr);
  });
});

describe('foldEvents', () => {
  it('returns the newest state of a gapless history', () => {
    expect(foldEvents('e-f', [event('e-f', 1), event('e-f', 2, { status: 'revoked' })])?.status).toBe('revoked');
  });

  it('refuses a history with a gap', () => {
    expect(() => foldEvents('e-f', [event('e-f', 1), event('e-f', 3)])).toThrow(LedgerIntegrityError);
  });

  it("refuses another employee's event", () => {
    expect(() => foldEvents('e-f', [event('e-g', 1)])).toThrow(LedgerIntegrityError);
  });
});
