// POST /v1/exports and GET /v1/exports/{exportId} over HTTP against the local stack: captures go
// in through ingest, the export comes out through the presigned URL, and its lines are exactly
// the stored (redacted) events of that employee and no one else's. The key side: the export role
// decrypts only through the export's grant, which is gone afterwards, as the trail shows.
import { createHash } from 'node:crypto';
import { buildClient, CommitmentPolicy, KmsKeyringNode } from '@aws-crypto/client-node';
import { CreateGrantCommand, KMS, ListGrantsCommand, RetireGrantCommand } from '@aws-sdk/client-kms';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { DEVICE_ID_METADATA } from '../../contract/resources.js';
import { captureBatch } from '../support/capture-batches.js';
import { captureObjectKeys, decryptCaptureAs } from '../support/capture-objects.js';
import { startTestStack, type ConsentTestStack } from '../support/consent-api.js';
import { canonical, exportApi, type ExportApi, type ExportStatusBody } from '../support/export-api.js';
import { downloadExport, lineSchemaErrors } from '../support/export-lines.js';

const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const { captures } = LOCAL_RESOURCES.buckets;
const SCOPES_A = ['keystrokes', 'clicks'] as const;

let t: ConsentTestStack;
let consent: ExportApi['consent'];
let capture: ExportApi['capture'];
let requestExport: ExportApi['requestExport'];
let exportStatus: ExportApi['exportStatus'];
let untilFinished: ExportApi['untilFinished'];
let manifestOf: ExportApi['manifestOf'];
beforeAll(async () => {
  t = await startTestStack();
  ({ consent, capture, requestExport, exportStatus, untilFinished, manifestOf } = exportApi(t));
}, 60_000);
afterAll(async () => {
  await t?.close();
});

async function keyArnOf(employeeId: string): Promise<string> {
  const arn = (await t.ledger.latestEvent(employeeId))?.state.keyArn;
  if (arn === undefined) throw new Error(`${employeeId} has no key`);
  return arn;
}

async function firstObjectOf(employeeId: string): Promise<{ key: string; ciphertext: Uint8Array }> {
  const listed = await t.s3.send(new ListObjectsV2Command({ Bucket: captures, Prefix: `captures/${employeeId}/` }));
  const key = listed.Contents?.[0]?.Key;
  if (key === undefined) throw new Error(`no object of ${employeeId}`);
  const object = await t.s3.send(new GetObjectCommand({ Bucket: captures, Key: key }));
  return { key, ciphertext: await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray() };
}

/** Decrypts as the export role with the Encryption SDK, with or without a grant token: 'decrypted' or the error's text. */
async function decryptAsExportRole(keyArn: string, ciphertext: Uint8Array, grantToken?: string): Promise<string> {
  const { endpoints, identity } = t.stack;
  const { accessKeyId, secretAccessKey } = identity.principals.export;
  const client = new KMS({ region: identity.region, endpoint: endpoints.kms, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
  try {
    const keyring = new KmsKeyringNode({ keyIds: [keyArn], clientProvider: () => client, ...(grantToken === undefined ? {} : { grantTokens: [grantToken] }) });
    await decrypt(keyring, ciphertext);
    return 'decrypted';
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    client.destroy();
  }
}

describe('an export of captured data', () => {
  const A = 'e-exp-a';
  const B = 'e-exp-b';
  let expected: Record<string, unknown>[] = [];
  let exportId = '';
  let finished: ExportStatusBody;
  let trailFrom = 0;

  beforeAll(async () => {
    await consent(A, SCOPES_A);
    await consent(B, ['keystrokes', 'clicks', 'app-focus']);
    // Three batches from two devices, all three kinds each (app-focus is refused: not consented),
    // with strings ingest must redact.
    for (const [i, deviceId] of ['laptop-1', 'laptop-1', 'desktop-2'].entries()) {
      const batch = captureBatch({ deviceId, perKind: 3, marker: i === 0 ? 'mail me at jane.doe@example.com' : `round ${i}` });
      expected.push(...(await capture(A, batch, SCOPES_A)));
    }
    // Another employee's captures, which A's export must never contain.
    await capture(B, captureBatch({ perKind: 2, marker: 'B-ONLY-MARKER' }), ['keystrokes', 'clicks', 'app-focus']);
    trailFrom = t.local.trail().length;

    const [first, second] = await Promise.all([requestExport(A), requestExport(A)]);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    exportId = String(first.body['exportId']);
    // Two requests at once start one export: the second answers the running one.
    expect(second.body['exportId']).toBe(exportId);
    finished = await untilFinished(A, exportId);
  }, 120_000);

  it('answers 202 with an export id and a status, then reports it ready with counts', () => {
    expect(exportId).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(finished).toMatchObject({ exportId, status: 'ready', counts: { events: { keystrokes: 9, clicks: 9 }, objects: 6, unreadable: 0 } });
    expect(Date.parse(finished.expiresAt ?? '') - Date.now()).toBeGreaterThan(13 * 60_000);
    expect(Date.parse(finished.expiresAt ?? '') - Date.now()).toBeLessThanOrEqual(15 * 60_000);
    // The expiry S3 enforces is the one signed into the URL, not the expiresAt the body states.
    for (const url of [finished.url, finished.manifestUrl]) expect(new URL(url ?? '').searchParams.get('X-Amz-Expires')).toBe('900');
  });

  it('downloads through the presigned URL: the lines are exactly the stored, redacted events, and valid against the published schema', async () => {
    const { lines } = await downloadExport(finished.url ?? '');

    expect(canonical(lines)).toEqual(canonical(expected));
    expect(lines.map(lineSchemaErrors).filter((e) => e !== undefined)).toEqual([]);
    // Redaction happened before storage, so the export shows the mask, never the address.
    expect(JSON.stringify(lines)).not.toContain('jane.doe@example.com');
  });

  it('holds nothing of another employee', async () => {
    const { lines } = await downloadExport(finished.url ?? '');
    const batchesOfA = new Set(expected.map((line) => line['batchId']));

    expect(JSON.stringify(lines)).not.toContain('B-ONLY-MARKER');
    expect(lines.filter((line) => !batchesOfA.has(line['batchId']))).toEqual([]);
  });

  it('has a manifest with counts, time range, object count, the file\'s sha256 and the whole consent history', async () => {
    const manifest = await manifestOf(finished);
    const { bytes } = await downloadExport(finished.url ?? '');
    const ts = expected.map((line) => Number(line['ts']));

    expect(manifest).toMatchObject({
      exportId,
      employeeId: A,
      file: { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), lines: expected.length },
      objects: { listed: 6, exported: 6, unreadable: 0 },
      counts: { keystrokes: 9, clicks: 9 },
      timeRange: { from: new Date(Math.min(...ts)).toISOString(), to: new Date(Math.max(...ts)).toISOString() },
      unreadable: [],
    });
    expect(manifest.consentHistory.map((e) => e.kind)).toEqual(['granted', 'export-requested']);
  });

  it('records export-requested and export-ready in the ledger without changing the consent', async () => {
    const events = await t.ledger.events(A);
    const [granted, requested, ready] = events;

    expect(events.map((e) => [e.kind, e.details?.['exportId']])).toEqual([['granted', undefined], ['export-requested', exportId], ['export-ready', exportId]]);
    expect({ ...requested?.state, sequence: 1 }).toEqual(granted?.state);
    expect({ ...ready?.state, sequence: 1 }).toEqual(granted?.state);
    expect(ready?.actor).toEqual({ kind: 'service', name: 'export-worker' });
  });

  it('answers 404, never data, to another employee asking for this export', async () => {
    const response = await exportStatus(B, exportId);

    expect(response.status).toBe(404);
    expect(response.body['error']).toBe('not-found');
    expect(JSON.stringify(response.body)).not.toMatch(/url|X-Amz/i);
  });

  it('retires the grant when done: ListGrants shows none, and the trail reads CreateGrant, Decrypt for each object, then RetireGrant', async () => {
    const keyArn = await keyArnOf(A);
    const grants = await t.kms('steward').send(new ListGrantsCommand({ KeyId: keyArn }));
    expect(grants.Grants ?? []).toEqual([]);

    const trail = t.local.trail().slice(trailFrom).filter((r) => r.resources.some((res) => res.ARN === keyArn) && r.errorCode === undefined);
    const created = trail.find((r) => r.eventName === 'CreateGrant' && r.requestParameters?.['name'] === `export-${exportId}`);
    const grantId = created?.responseElements?.['grantId'];
    expect(grantId).toBeDefined();
    const story = trail.filter((r) => r.eventName === 'CreateGrant' || r.eventName === 'RetireGrant' || r.eventName === 'Decrypt');
    expect(story.map((r) => r.eventName)).toEqual(['CreateGrant', ...Array<string>(6).fill('Decrypt'), 'RetireGrant']);
    expect(story.at(-1)?.requestParameters?.['grantId']).toBe(grantId);
    expect(story.slice(1).every((r) => r.userIdentity.sessionContext?.sessionIssuer.arn === t.roles.export || r.userIdentity.arn === t.roles.export)).toBe(true);
    expect(story[0]?.userIdentity.sessionContext?.sessionIssuer.arn ?? story[0]?.userIdentity.arn).toBe(t.roles.steward);
  });

  it('leaves the export role unable to decrypt once the export is done', async () => {
    const { ciphertext } = await firstObjectOf(A);

    expect(await decryptAsExportRole(await keyArnOf(A), ciphertext)).toMatch(/AccessDenied|not authorized/i);
  });

  // Last in this block: it mints a grant of its own, which the trail test above must not see.
  it('holds exactly what is stored: A\'s objects, decrypted apart through a grant of the test\'s own, give the same lines', async () => {
    const keyArn = await keyArnOf(A);
    const { GrantId } = await t.kms('steward').send(
      new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: t.roles.export, RetiringPrincipal: t.roles.export, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId: A } } }),
    );
    try {
      const stored: Record<string, unknown>[] = [];
      for (const scope of SCOPES_A) {
        for (const key of await captureObjectKeys(t, A, scope)) {
          const events = await decryptCaptureAs(t, 'export', A, key);
          if (typeof events === 'string') throw new Error(`${key} did not decrypt: ${events}`);
          const { Metadata } = await t.s3.send(new HeadObjectCommand({ Bucket: captures, Key: key }));
          stored.push(...events.map((event) => ({ scope, batchId: key.split('/').at(-1), deviceId: Metadata?.[DEVICE_ID_METADATA] ?? null, ...event })));
        }
      }

      const { lines } = await downloadExport(finished.url ?? '');

      expect(stored).toHaveLength(expected.length);
      expect(canonical(lines)).toEqual(canonical(stored));
    } finally {
      await t.kms('export').send(new RetireGrantCommand({ KeyId: keyArn, GrantId }));
    }
  });
});

describe('key access of the export role', () => {
  const A = 'e-keys-a';
  const B = 'e-keys-b';

  beforeAll(async () => {
    for (const id of [A, B]) {
      await consent(id, ['keystrokes']);
      await capture(id, captureBatch({ kinds: ['keystroke'] }), ['keystrokes']);
    }
  }, 60_000);

  async function grantFor(employeeId: string): Promise<{ grantId: string; grantToken: string; keyArn: string }> {
    const keyArn = await keyArnOf(employeeId);
    const { GrantId, GrantToken } = await t.kms('steward').send(
      new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: t.roles.export, RetiringPrincipal: t.roles.export, Operations: ['Decrypt'], Constraints: { EncryptionContextSubset: { employeeId } } }),
    );
    if (GrantId === undefined || GrantToken === undefined) throw new Error('no grant');
    return { grantId: GrantId, grantToken: GrantToken, keyArn };
  }

  it('is denied Decrypt without a grant', async () => {
    const { ciphertext } = await firstObjectOf(A);

    expect(await decryptAsExportRole(await keyArnOf(A), ciphertext)).toMatch(/AccessDenied|not authorized/i);
  });

  it('decrypts A\'s object with a grant for A (the control), and is denied B\'s object with that grant', async () => {
    const grant = await grantFor(A);
    try {
      const own = await firstObjectOf(A);
      const other = await firstObjectOf(B);

      expect(await decryptAsExportRole(grant.keyArn, own.ciphertext, grant.grantToken)).toBe('decrypted');
      // B's object under A's grant: neither A's key (so the keyring will not even ask) nor B's key (no grant for it).
      expect(await decryptAsExportRole(grant.keyArn, other.ciphertext, grant.grantToken)).not.toBe('decrypted');
      expect(await decryptAsExportRole(await keyArnOf(B), other.ciphertext, grant.grantToken)).toMatch(/AccessDenied|not authorized/i);
    } finally {
      await t.kms('export').send(new RetireGrantCommand({ KeyId: grant.keyArn, GrantId: grant.grantId }));
    }
  });
});

describe('who may export', () => {
  it('a withdrawn (revoked) employee can export what was captured before', async () => {
    const id = 'e-exp-revoked';
    await consent(id, ['clicks']);
    const expected = await capture(id, captureBatch({ kinds: ['click'], perKind: 4 }), ['clicks']);
    const revoke = await t.call('POST', '/v1/consent/revoke', { token: await t.token(id, 'consent:manage'), body: { erase: false } });
    expect(revoke.body['status']).toBe('revoked');

    const started = await requestExport(id);
    expect(started.status).toBe(202);
    const finished = await untilFinished(id, String(started.body['exportId']));

    expect(finished.status).toBe('ready');
    expect(canonical((await downloadExport(finished.url ?? '')).lines)).toEqual(canonical(expected));
    expect((await manifestOf(finished)).consentHistory.map((e) => [e.kind, e.status])).toEqual([['granted', 'active'], ['revoked', 'revoked'], ['export-requested', 'revoked']]);
    expect((await t.ledger.latestEvent(id))?.state.status).toBe('revoked');
  }, 60_000);

  it('a paused employee can export, the pause stays, and the manifest\'s history includes the pause', async () => {
    const id = 'e-exp-paused';
    await consent(id, ['clicks']);
    const expected = await capture(id, captureBatch({ kinds: ['click'], perKind: 4 }), ['clicks']);
    const pause = await t.call('POST', '/v1/consent/pause', { token: await t.token(id, 'consent:manage'), body: { minutes: 30 } });
    expect(pause.body['status']).toBe('paused');

    const started = await requestExport(id);
    expect(started.status).toBe(202);
    const finished = await untilFinished(id, String(started.body['exportId']));

    expect(finished.status).toBe('ready');
    expect(canonical((await downloadExport(finished.url ?? '')).lines)).toEqual(canonical(expected));
    expect((await manifestOf(finished)).consentHistory.map((e) => [e.kind, e.status])).toEqual([['granted', 'active'], ['paused', 'paused'], ['export-requested', 'paused']]);
    expect((await t.ledger.latestEvent(id))?.state.status).toBe('paused');
  }, 60_000);

  it('an erased employee cannot: 409 data-erased, and nothing is queued', async () => {
    const id = 'e-exp-erased';
    await consent(id, ['clicks']);
    await capture(id, captureBatch({ kinds: ['click'] }), ['clicks']);
    await t.call('POST', '/v1/consent/revoke', { token: await t.token(id, 'consent:manage'), body: { erase: true } });

    const response = await requestExport(id);

    expect(response.status).toBe(409);
    expect(response.body['error']).toBe('data-erased');
    expect((await t.ledger.events(id)).map((e) => e.kind)).not.toContain('export-requested');
  });

  it('an employee who never consented gets 409 nothing-to-export', async () => {
    const response = await requestExport('e-exp-never');

    expect(response.status).toBe(409);
    expect(response.body['error']).toBe('nothing-to-export');
  });

  it('needs consent:manage: an agent token is refused', async () => {
    const response = await t.call('POST', '/v1/exports', { token: await t.token('e-exp-a', 'capture:write') });

    expect(response.status).toBe(403);
  });
});
