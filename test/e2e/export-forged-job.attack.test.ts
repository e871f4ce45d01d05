// Forged export jobs (a principal that may SendMessage on the export queue: the consent role, or
// an admin) run through the real worker code as the export role: a job naming one employee's
// export with another employee's key and live grant must not retire that grant, which would fail
// the other employee's export under way.
import { Logger } from '@aws-lambda-powertools/logger';
import { CreateGrantCommand, ListGrantsCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExport, type ExportDeps } from '../../lambdas/export/export-employee.js';
import { ExportJobs } from '../../lambdas/shared/export-jobs.js';
import { Ledger } from '../../lambdas/shared/ledger.js';
import { LOCAL_RESOURCES } from '../../local/stack.js';
import { captureBatch } from '../support/capture-batches.js';
import { startTestStack, type ConsentTestStack } from '../support/consent-api.js';
import { exportApi, type ExportApi } from '../support/export-api.js';

let t: ConsentTestStack;
let api: ExportApi;
let deps: ExportDeps;
beforeAll(async () => {
  t = await startTestStack();
  api = exportApi(t);
  const documents = t.local.documents('export');
  deps = {
    ledger: new Ledger(documents, LOCAL_RESOURCES.tables.ledger),
    jobs: new ExportJobs(documents, LOCAL_RESOURCES.tables.exportJobs),
    s3: t.local.s3('export'),
    kms: t.local.kms('export'),
    capturesBucket: LOCAL_RESOURCES.buckets.captures,
    exportsBucket: LOCAL_RESOURCES.buckets.exports,
    logger: new Logger({ serviceName: 'test-export', logLevel: 'SILENT' }),
  };
}, 60_000);
afterAll(async () => {
  await t?.close();
});

async function keyArnOf(employeeId: string): Promise<string> {
  const arn = (await t.ledger.latestEvent(employeeId))?.state.keyArn;
  if (arn === undefined) throw new Error(`${employeeId} has no key`);
  return arn;
}

/** A live export grant on the victim's key, as the steward mints it for an export under way. */
async function liveGrant(employeeId: string): Promise<{ keyArn: string; grantId: string; grantToken: string }> {
  const keyArn = await keyArnOf(employeeId);
  const created = await t.kms('steward').send(
    new CreateGrantCommand({
      KeyId: keyArn,
      Name: `export-x-victim-${employeeId}`,
      GranteePrincipal: t.roles.export,
      RetiringPrincipal: t.roles.export,
      Operations: ['Decrypt'],
      Constraints: { EncryptionContextSubset: { employeeId } },
    }),
  );
  if (created.GrantId === undefined || created.GrantToken === undefined) throw new Error('no grant');
  return { keyArn, grantId: created.GrantId, grantToken: created.GrantToken };
}

async function grantIds(keyArn: string): Promise<string[]> {
  return ((await t.kms('steward').send(new ListGrantsCommand({ KeyId: keyArn }))).Grants ?? []).map((g) => g.GrantId ?? '');
}

describe('a forged export job naming another employee\'s key and grant', () => {
  const VICTIM = 'e-forge-victim';
  const ATTACKER = 'e-forge-attacker';
  let attackerExportId = '';

  beforeAll(async () => {
    await api.consent(VICTIM, ['keystrokes']);
    await api.consent(ATTACKER, ['keystrokes']);
    await api.capture(ATTACKER, captureBatch({ kinds: ['keystroke'] }), ['keystrokes']);
    const started = await api.requestExport(ATTACKER);
    expect(started.status).toBe(202);
    attackerExportId = String(started.body['exportId']);
    expect((await api.untilFinished(ATTACKER, attackerExportId)).status).toBe('ready');
  }, 60_000);

  it('on an existing export record whose key and grant differ, leaves the victim\'s grant alone', async () => {
    const victim = await liveGrant(VICTIM);
    expect(await grantIds(victim.keyArn)).toContain(victim.grantId);

    await runExport(deps, { employeeId: ATTACKER, exportId: attackerExportId, ...victim });

    expect(await grantIds(victim.keyArn)).toContain(victim.grantId);
    // The attacker's own export is untouched: still ready, recorded once.
    expect((await api.exportStatus(ATTACKER, attackerExportId)).body['status']).toBe('ready');
  }, 60_000);

  // Was a hole: a job whose record does not exist (an exportId no one asked for) made the worker
  // retire whatever grant the message names, on whatever key. It now ignores such a job; the
  // export-expiry sweep revokes a real export's leftover grant.
  it('on an export that does not exist, leaves the victim\'s grant alone', async () => {
    const victim = await liveGrant(VICTIM);

    await runExport(deps, { employeeId: ATTACKER, exportId: 'x-never-requested', ...victim });

    expect(await grantIds(victim.keyArn)).toContain(victim.grantId);
  }, 60_000);
});
