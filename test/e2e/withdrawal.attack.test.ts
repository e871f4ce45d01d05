// A withdrawal whose delayed sweep could not be queued, then an export on top of it: the consent
// service's repair queues the sweep again, but names the newest event (the export's), not the
// revoke. The sweep must still run for that withdrawal, or what landed after it stays stored.
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch } from '../support/capture-batches.js';
import { useTestStack } from '../support/consent-api.js';
import { exportApi } from '../support/export-api.js';
import { employeeActor, inProcessConsent, type InProcessConsent } from '../support/in-process-services.js';
import { pollUntil } from '../support/local-stack.js';
import { FaultPlan, serviceError } from '../support/sdk-faults.js';

const stack = useTestStack();
const { captures } = LOCAL_RESOURCES.buckets;
let consent: InProcessConsent | undefined;
afterAll(() => consent?.destroy());

async function keysOf(employeeId: string): Promise<string[]> {
  const listed = await stack.current.s3.send(new ListObjectsV2Command({ Bucket: captures, Prefix: `captures/${employeeId}/` }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '');
}

describe('a withdrawal whose sweep job was lost', () => {
  it('is swept once a later call repairs it, even after an export was recorded on top of it', async () => {
    // Arrange: consent, one batch, then a revoke whose sweep job cannot be sent.
    const t = stack.current;
    const api = exportApi(t);
    const id = 'e-lost-sweep';
    await api.consent(id, ['keystrokes']);
    await api.capture(id, captureBatch({ kinds: ['keystroke'] }), ['keystrokes']);
    const faults = new FaultPlan();
    consent = inProcessConsent(t.local, { faults });
    faults.arm({ match: (c) => c.service === 'consent-sqs' && c.command === 'SendMessageCommand' && JSON.stringify(c.input).includes('revoke-sweep'), error: () => serviceError('InternalError', 500) });
    await expect(consent.service.apply(id, { type: 'revoke', erase: false }, employeeActor(id))).rejects.toThrow(/InternalError|injected/);
    expect(faults.pending()).toBe(0);
    // A batch that passed ingest's check before the withdrawal lands after it (what the race produces).
    const revokedAt = (await t.ledger.events(id)).reverse().find((e) => e.kind === 'revoked')?.at ?? '';
    await pollUntil(() => Date.now() >= Math.floor(Date.parse(revokedAt) / 1000) * 1000 + 1000, { timeoutMs: 2_000, intervalMs: 10, what: 'the next second' });
    const late = `captures/${id}/keystrokes/2026/11/30/b-late-after-revoke`;
    await t.s3.send(new PutObjectCommand({ Bucket: captures, Key: late, Body: 'ciphertext' }));

    // Act: the employee asks for their data (export-requested lands on top of the revoke), then
    // withdraws again, whose repair re-queues the lost sweep.
    const started = await api.requestExport(id);
    expect(started.status).toBe(202);
    await api.untilFinished(id, String(started.body['exportId']));
    const again = await t.call('POST', '/v1/consent/revoke', { token: await t.token(id, 'consent:manage'), body: { erase: false } });
    expect(again.status).toBe(200);

    // Assert: the sweep ran for the withdrawal and removed what landed after it.
    const swept = await pollUntil(async () => (await t.ledger.events(id)).find((e) => e.kind === 'revoke-swept'), { timeoutMs: 20_000, what: 'the sweep of the lost job' });
    expect(swept.details?.['deleted']).toBeGreaterThanOrEqual(1);
    expect(await keysOf(id)).not.toContain(late);
  }, 60_000);
});
