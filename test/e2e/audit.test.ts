// `npm run audit` after a real scenario on the local stack (consent, capture, pause with denied
// ingest, export, resume, revoke with erase): check holds, each forged trail record is named, the
// employee timeline tells the story in order, and the named queries answer on DuckDB.
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_QUERIES } from '../../contract/audit-queries.js';
import type { ConsentEvent } from '../../lambdas/shared/consent-state.js';
import { buildKeyPolicy } from '../../lambdas/shared/key-policy.js';
import { dayOf } from '../../tools/audit/audit-source.js';
import { DuckTrail } from '../../tools/audit/duckdb-trail.js';
import { main } from '../../tools/audit/index.js';
import type { TimelineEntry } from '../../tools/audit/timeline.js';
import { captureBatch } from '../support/capture-batches.js';
import { startTestStack, type ConsentTestStack } from '../support/consent-api.js';
import { exportApi } from '../support/export-api.js';
import { pollUntil } from '../support/local-stack.js';

const id = 'e-audit';
let t: ConsentTestStack;
let events: ConsentEvent[];
let keyArn: string;
let trailDir: string;
const scratch: string[] = [];

async function audit(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...argv, '--dir', t.local.localDir], { out: (l) => out.push(l), err: (l) => err.push(l) });
  if (process.env['AUDIT_DEBUG'] === '1') process.stderr.write(`audit ${argv.join(' ')} -> ${code}\n${out.join('\n')}\n${err.join('\n')}\n`);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const ceilSecond = (iso: string) => Math.ceil(Date.parse(iso) / 1000) * 1000;
const trailTime = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const eventOf = (kind: string) => {
  const e = events.find((x) => x.kind === kind);
  if (e === undefined) throw new Error(`no ${kind} event`);
  return e;
};

/** A real trail record, reshaped: the forgeries look exactly like what the local KMS writes. */
function trailRecords(): Record<string, unknown>[] {
  return readdirSync(trailDir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => readFileSync(join(trailDir, f), 'utf8').split('\n').filter((l) => l !== ''))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function identityOf(principal: 'admin' | 'ingest' | 'steward'): Record<string, unknown> {
  const arn = t.stack.identity.principals[principal].arn;
  return { type: 'AssumedRole', arn, accountId: t.stack.identity.account, sessionContext: { sessionIssuer: { type: 'Role', principalId: 'AROAFORGED', arn, accountId: t.stack.identity.account, userName: arn.split('/').pop() } } };
}

/** A copy of the trail with `records` appended to its newest file; returns the copy's directory. */
function forgedTrail(records: Record<string, unknown>[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'cc-forged-'));
  scratch.push(dir);
  cpSync(trailDir, dir, { recursive: true });
  const newest = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort().at(-1) ?? 'forged.jsonl';
  appendFileSync(join(dir, newest), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return dir;
}

function forged(template: string, changes: Record<string, unknown>): Record<string, unknown> {
  const base = trailRecords().find((r) => r['eventName'] === template && r['errorCode'] === undefined);
  if (base === undefined) throw new Error(`no ${template} record to copy`);
  return { ...base, eventID: `forged-${template}-${Math.random().toString(16).slice(2)}`, ...changes };
}

beforeAll(async () => {
  const mark = (what: string) => process.env['AUDIT_DEBUG'] === '1' && process.stderr.write(`${new Date().toISOString()} ${what}\n`);
  mark('start');
  t = await startTestStack();
  mark('stack');
  trailDir = join(t.local.localDir, 'cloudtrail');
  const api = exportApi(t);
  const manage = await t.token(id, 'consent:manage');
  await api.consent(id, ['keystrokes', 'clicks']);
  await api.capture(id, captureBatch({ kinds: ['keystroke', 'click'] }), ['keystrokes', 'clicks']);
  expect((await t.call('POST', '/v1/consent/pause', { token: manage, body: { minutes: 60 } })).status).toBe(200);
  // Denied ingest: the agent is refused by the ledger, and the ingest role by KMS itself.
  expect((await t.call('POST', '/v1/events', { token: await t.token(id, 'capture:write'), body: captureBatch({ kinds: ['click'] }) })).status).toBe(403);
  await expect(t.kms('ingest').send(new GenerateDataKeyCommand({ KeyId: `alias/consent-capture/${id}`, KeySpec: 'AES_256', EncryptionContext: { employeeId: id, scope: 'clicks', batchId: 'b-paused' } }))).rejects.toMatchObject({ name: 'AccessDeniedException' });
  mark('paused');
  const requested = await api.requestExport(id);
  expect(requested.status).toBe(202);
  const finished = await api.untilFinished(id, String(requested.body['exportId']));
  expect(finished.status).toBe('ready');
  mark('exported');
  // The trail records whole seconds: the pause must span one whole second for a record to fall inside it.
  const pausedAt = (await t.ledger.latestEvent(id))?.at ?? new Date().toISOString();
  await pollUntil(() => Date.now() >= ceilSecond(pausedAt) + 1000, { timeoutMs: 3000, what: 'one whole trail second of pause' });
  expect((await t.call('POST', '/v1/consent/resume', { token: manage })).status).toBe(200);
  await api.capture(id, captureBatch({ kinds: ['click'] }), ['clicks']);
  expect((await t.call('POST', '/v1/consent/revoke', { token: manage, body: { erase: true } })).status).toBe(200);
  await pollUntil(async () => (await t.ledger.latestEvent(id))?.kind === 'purged', { timeoutMs: 20_000, what: 'the purge' });
  mark('purged');
  events = await t.ledger.events(id);
  keyArn = eventOf('granted').state.keyArn ?? '';
}, 90_000);

afterAll(async () => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  await t?.close();
});

describe('audit check after the scenario', () => {
  it('exits 0: every invariant holds on the real trail and ledger', async () => {
    const result = await audit('check', '--json');

    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({ ok: true, violations: [], employees: 1 });
  });

  it('exits 1 naming a Decrypt by the admin role', async () => {
    const record = forged('Decrypt', { userIdentity: identityOf('admin') });

    const result = await audit('check', '--json', '--trail', forgedTrail([record]));

    expect(result.code).toBe(1);
    expect(JSON.parse(result.out).violations).toEqual([
      expect.objectContaining({ invariant: 'decrypt-not-by-export-grant', eventId: record['eventID'], principal: t.stack.identity.principals.admin.arn, employeeId: id, message: expect.stringContaining('not the export role') }),
    ]);
  });

  it('exits 1 naming a GenerateDataKey inside the pause window', async () => {
    const paused = eventOf('paused');
    const record = forged('GenerateDataKey', { eventTime: trailTime(ceilSecond(paused.at)) });

    const result = await audit('check', '--json', '--trail', forgedTrail([record]));

    expect(Date.parse(eventOf('resumed').at)).toBeGreaterThan(ceilSecond(paused.at) + 1000);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.out).violations).toEqual([expect.objectContaining({ invariant: 'capture-outside-consent', eventId: record['eventID'], employeeId: id })]);
  });

  it('exits 1 naming a PutKeyPolicy that adds the account root', async () => {
    const newest = events.at(-1) as ConsentEvent;
    const right = buildKeyPolicy(newest.state, t.roles);
    const policy = { ...right, Statement: [...right.Statement, { Sid: 'Root', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${t.stack.identity.account}:root` }, Action: 'kms:*', Resource: '*' }] };
    const record = forged('PutKeyPolicy', { eventTime: trailTime(Date.now() + 10_000), requestParameters: { keyId: keyArn, policyName: 'default', policy: JSON.stringify(policy), bypassPolicyLockoutSafetyCheck: false } });

    const result = await audit('check', '--json', '--trail', forgedTrail([record]));

    expect(result.code).toBe(1);
    const violations = JSON.parse(result.out).violations as { invariant: string; eventId: string; message: string }[];
    expect(violations.map((v) => [v.invariant, v.eventId])).toEqual([
      ['policy-names-root-or-human', record['eventID']],
      ['policy-differs-from-ledger', record['eventID']],
    ]);
    expect(violations[0]?.message).toContain(':root');
  });

  it('exits 1 naming a PutKeyPolicy that differs from the ledger by one scope', async () => {
    const resumed = eventOf('resumed');
    const policy = buildKeyPolicy({ ...resumed.state, scopes: [...resumed.state.scopes, 'app-focus'] }, t.roles);
    const record = forged('PutKeyPolicy', { eventTime: trailTime(ceilSecond(resumed.at)), requestParameters: { keyId: keyArn, policyName: 'default', policy: JSON.stringify(policy), bypassPolicyLockoutSafetyCheck: false } });

    const result = await audit('check', '--json', '--trail', forgedTrail([record]));

    expect(result.code).toBe(1);
    expect(JSON.parse(result.out).violations).toEqual([expect.objectContaining({ invariant: 'policy-differs-from-ledger', eventId: record['eventID'], employeeId: id })]);
  });

  it('names the record in its readable table too, and `npm run audit` exits with the same code', async () => {
    const record = forged('Decrypt', { userIdentity: identityOf('admin') });
    const dir = forgedTrail([record]);

    // Asynchronously: the child reads the ledger from this process's local DynamoDB.
    const run = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, ['--import', 'tsx', 'tools/audit/index.ts', 'check', '--dir', t.local.localDir, '--trail', dir], { encoding: 'utf8', timeout: 30_000 }, (_error, stdout) =>
        resolve({ status: child.exitCode, stdout }),
      );
    });

    expect(run.status).toBe(1);
    expect(run.stdout).toContain(String(record['eventID']));
    expect(run.stdout).toContain('decrypt-not-by-export-grant');
  });
});

describe('audit employee', () => {
  it('shows the pause and resume, the denied ingest attempt, the export grant and who did each, in time order', async () => {
    const result = await audit('employee', id, '--json');

    expect(result.code).toBe(0);
    const entries = JSON.parse(result.out) as TimelineEntry[];
    const second = (e: TimelineEntry) => Math.floor(Date.parse(e.time) / 1000);
    const seconds = entries.map(second);
    expect(seconds).toEqual([...seconds].sort((a, b) => a - b));
    const find = (match: (e: TimelineEntry) => boolean, what: string): TimelineEntry => {
      const entry = entries.find(match);
      if (entry === undefined) throw new Error(`the timeline has no ${what}`);
      return entry;
    };
    const story = [
      find((e) => e.what === 'granted' && e.who.startsWith(`employee ${id}`), 'grant by the employee'),
      find((e) => e.what === 'GenerateDataKey' && e.who === 'ingest' && e.outcome === 'allowed', 'allowed data key'),
      find((e) => e.what === 'paused' && e.who.startsWith(`employee ${id}`) && e.outcome === 'paused', 'pause by the employee'),
      find((e) => e.what === 'GenerateDataKey' && e.who === 'ingest' && e.outcome === 'AccessDeniedException', 'denied ingest attempt'),
      find((e) => e.what === 'CreateGrant' && e.who === 'steward' && e.detail === `grant Decrypt to export, EncryptionContextSubset employeeId=${id}`, 'export grant by the steward'),
      find((e) => e.what === 'Decrypt' && e.who === 'export' && e.outcome === 'allowed', 'decrypt by the export role'),
      find((e) => e.what === 'resumed' && e.who.startsWith(`employee ${id}`), 'resume by the employee'),
      find((e) => e.what === 'DisableKey' && e.who === 'purge', 'DisableKey by the purge role'),
      find((e) => e.what === 'purged' && e.who === 'purge-worker', 'purged by the purge worker'),
    ];
    // CloudTrail records whole seconds: two steps in different seconds must appear in order;
    // within one second the trail cannot order a KMS call against a ledger event.
    for (let i = 1; i < story.length; i += 1) {
      const [before, after] = [story[i - 1] as TimelineEntry, story[i] as TimelineEntry];
      expect(second(before)).toBeLessThanOrEqual(second(after));
      if (second(before) < second(after)) expect(entries.indexOf(before)).toBeLessThan(entries.indexOf(after));
    }
    // The pause spans whole seconds (see beforeAll): it is strictly between the capture before it and the resume.
    expect(second(story[2] as TimelineEntry)).toBeLessThan(second(story[6] as TimelineEntry));
  });

  it('prints a readable table', async () => {
    const result = await audit('employee', id);

    expect(result.code).toBe(0);
    expect(result.out.split('\n')[0]).toMatch(/^TIME\s+SOURCE\s+WHAT\s+WHO\s+OUTCOME\s+DETAIL$/);
    expect(result.out).toMatch(/GenerateDataKey\s+ingest\s+AccessDeniedException/);
  });
});

describe('audit purge-proof', () => {
  it('shows the disable, the scheduled deletion with its date, the object counts and the purged event', async () => {
    const result = await audit('purge-proof', id, '--json');

    expect(result.code).toBe(0);
    const proof = JSON.parse(result.out);
    const purged = eventOf('purged');
    expect(proof).toMatchObject({ complete: true, keyArn, disabled: { by: 'purge' }, deletionScheduled: { by: 'purge' }, purged: { by: 'purge-worker', details: { objectsDeleted: expect.any(Object) } }, usesAfterDisable: [] });
    expect(Date.parse(proof.deletionScheduled.deletionDate)).toBe(Date.parse(String(purged.details?.['keyDeletionDate'])));
  });
});

describe('the named queries on DuckDB', () => {
  const period = () => ({ fromDay: dayOf('2000-01-01'), toDay: '9999/12/31', from: '2000-01-01T00:00:00Z', to: '9999-12-31T00:00:00Z' });
  let duck: DuckTrail;
  beforeAll(async () => {
    duck = await DuckTrail.open(trailDir);
  });
  afterAll(() => duck.close());

  it('covers every named query in these tests', () => {
    expect(AUDIT_QUERIES.map((q) => q.name).sort()).toEqual(['decrypts-not-by-export-role', 'denied-calls', 'employee-key-timeline', 'generate-data-key-outside-consent', 'key-policy-changes', 'purge-proof']);
  });

  it('employee-key-timeline: the key calls allowed and denied, oldest first', async () => {
    const rows = await duck.namedQuery('employee-key-timeline', { ...period(), employeeId: id, keyArn });
    const names = rows.map((r) => `${String(r['eventname'])}:${r['errorcode'] === null ? 'ok' : String(r['errorcode'])}`);
    expect(names).toEqual(expect.arrayContaining(['GenerateDataKey:ok', 'GenerateDataKey:AccessDeniedException', 'CreateGrant:ok', 'Decrypt:ok', 'DisableKey:ok', 'ScheduleKeyDeletion:ok']));
    const times = rows.map((r) => String(r['eventtime']));
    expect(times).toEqual([...times].sort());
  });

  it('denied-calls: the ingest role refused during the pause', async () => {
    const rows = await duck.namedQuery('denied-calls', period());
    expect(rows).toEqual(expect.arrayContaining([expect.objectContaining({ eventname: 'GenerateDataKey', principal: t.stack.identity.principals.ingest.arn, errorcode: 'AccessDeniedException', employeeid: id, scope: 'clicks' })]));
  });

  it('generate-data-key-outside-consent: none inside the pause; the data keys of consented time when asked about it', async () => {
    const pausedFrom = trailTime(ceilSecond(eventOf('paused').at));
    const pausedTo = trailTime(Math.floor(Date.parse(eventOf('resumed').at) / 1000) * 1000);
    const inPause = await duck.namedQuery('generate-data-key-outside-consent', { ...period(), from: pausedFrom, to: pausedTo, employeeId: id });
    const beforePause = await duck.namedQuery('generate-data-key-outside-consent', { ...period(), from: '2000-01-01T00:00:00Z', to: pausedFrom, employeeId: id });
    expect(inPause).toEqual([]);
    expect(beforePause.map((r) => r['scope']).sort()).toEqual(['clicks', 'keystrokes']);
  });

  it('decrypts-not-by-export-role: none on the real trail, the admin forgery on a forged one', async () => {
    const record = forged('Decrypt', { userIdentity: identityOf('admin') });
    const real = await duck.namedQuery('decrypts-not-by-export-role', { ...period(), exportRoleArn: t.roles.export });
    const other = await DuckTrail.open(forgedTrail([record]));
    try {
      const rows = await other.namedQuery('decrypts-not-by-export-role', { ...period(), exportRoleArn: t.roles.export });
      expect(real).toEqual([]);
      expect(rows.map((r) => [r['eventid'], r['principal'], r['employeeid']])).toEqual([[record['eventID'], t.stack.identity.principals.admin.arn, id]]);
    } finally {
      other.close();
    }
  });

  it("key-policy-changes: each policy the steward wrote, the builder's for a ledger event", async () => {
    const rows = await duck.namedQuery('key-policy-changes', period());
    const puts = rows.filter((r) => r['eventname'] === 'PutKeyPolicy' && r['keyarn'] === keyArn);
    const expected = new Set(events.map((e) => JSON.stringify(buildKeyPolicy(e.state, t.roles))));
    expect(puts.length).toBeGreaterThanOrEqual(4);
    for (const put of puts) {
      expect(put['principal']).toBe(t.roles.steward);
      expect(expected.has(JSON.stringify(JSON.parse(String(put['policy']))))).toBe(true);
    }
  });

  it('purge-proof: DisableKey and ScheduleKeyDeletion by the purge role, with the deletion date', async () => {
    const rows = await duck.namedQuery('purge-proof', { ...period(), keyArn });
    const disable = rows.find((r) => r['eventname'] === 'DisableKey');
    const schedule = rows.find((r) => r['eventname'] === 'ScheduleKeyDeletion');
    expect(disable).toMatchObject({ principal: t.roles.purge, errorcode: null });
    expect(schedule).toMatchObject({ principal: t.roles.purge, errorcode: null });
    expect(Date.parse(String(schedule?.['deletiondate']))).toBe(Date.parse(String(eventOf('purged').details?.['keyDeletionDate'])));
  });
});
