// The local trail is tamper-evident: the local KMS signs hourly digests chained like CloudTrail's,
// and `audit verify` names the first log file changed, removed or added.
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, DescribeKeyCommand, ListKeysCommand } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIGEST_DIR } from '../../local/kms/trail-digest.js';
import { main } from '../../tools/audit/index.js';
import { verifyTrail } from '../../tools/audit/trail-verify.js';
import { startTestKms, type TestKms } from '../support/local-kms.js';

const HOUR = 3_600_000;
let kms: TestKms;
let pristine: string;
const scratch: string[] = [];

/** A fresh copy of the closed local directory to tamper with. */
function copy(): { dir: string; trail: string; state: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cc-digest-'));
  scratch.push(dir);
  cpSync(pristine, dir, { recursive: true });
  return { dir, trail: join(dir, 'cloudtrail'), state: join(dir, 'kms') };
}

const logFiles = (trail: string) => readdirSync(trail).filter((f) => f.endsWith('.jsonl')).sort();

beforeAll(async () => {
  kms = await startTestKms();
  // Three days of calls, a few hours apart: several log files and several digests.
  for (let step = 0; step < 6; step += 1) {
    await kms.client('admin').send(new ListKeysCommand({}));
    await kms.client('admin').send(new CreateKeyCommand({ Description: `k${step}` }));
    kms.clock.advance(13 * HOUR);
  }
  await kms.close({ keepFiles: true });
  pristine = kms.localDir;
}, 30_000);

afterAll(() => {
  for (const dir of [...scratch, pristine]) rmSync(dir, { recursive: true, force: true });
});

describe('trail digests', () => {
  it('chains signed digests over every log file, and an untouched trail verifies', () => {
    const { trail, state } = copy();

    const result = verifyTrail(trail, state);

    expect(logFiles(trail).length).toBeGreaterThanOrEqual(3);
    expect(result).toMatchObject({ problems: [], pending: [] });
    expect(result.digests).toBeGreaterThanOrEqual(6);
    const digests = readdirSync(join(trail, DIGEST_DIR)).filter((f) => f.endsWith('.json')).sort();
    const second = JSON.parse(readFileSync(join(trail, DIGEST_DIR, digests[1] ?? ''), 'utf8'));
    expect(second).toMatchObject({ previousDigestFile: digests[0], previousDigestHashAlgorithm: 'SHA-256', digestSignatureAlgorithm: 'Ed25519' });
  });

  it('names a changed log file', () => {
    const { trail, state } = copy();
    const target = logFiles(trail)[1] ?? '';
    const text = readFileSync(join(trail, target), 'utf8');
    writeFileSync(join(trail, target), text.replace('"ListKeys"', '"ListAliases"'));

    const result = verifyTrail(trail, state);

    expect(result.problems[0]).toMatchObject({ kind: 'changed', file: target });
  });

  it('names a removed log file', () => {
    const { trail, state } = copy();
    const target = logFiles(trail)[0] ?? '';
    rmSync(join(trail, target));

    const result = verifyTrail(trail, state);

    expect(result.problems).toEqual([expect.objectContaining({ kind: 'removed', file: target })]);
  });

  it('names an inserted log file', () => {
    const { trail, state } = copy();
    const [first] = logFiles(trail);
    const inserted = (first ?? '').replace(/_(\d{8})\.jsonl$/, '_$1a.jsonl');
    writeFileSync(join(trail, inserted), readFileSync(join(trail, first ?? '')));

    const result = verifyTrail(trail, state);

    expect(result.problems).toEqual([expect.objectContaining({ kind: 'added', file: inserted })]);
  });

  it('names a record appended after the final digest', () => {
    const { trail, state } = copy();
    const last = logFiles(trail).at(-1) ?? '';
    appendFileSync(join(trail, last), '{"eventName":"Decrypt"}\n');

    expect(verifyTrail(trail, state).problems).toEqual([expect.objectContaining({ kind: 'changed', file: last })]);
  });

  it('names a digest that was rewritten, or removed from the chain', () => {
    const rewritten = copy();
    const digestDir = join(rewritten.trail, DIGEST_DIR);
    const [firstDigest, secondDigest] = readdirSync(digestDir).filter((f) => f.endsWith('.json')).sort();
    const doc = JSON.parse(readFileSync(join(digestDir, firstDigest ?? ''), 'utf8'));
    writeFileSync(join(digestDir, firstDigest ?? ''), JSON.stringify({ ...doc, logFiles: [] }, null, 2));
    const removed = copy();
    rmSync(join(removed.trail, DIGEST_DIR, secondDigest ?? ''));

    expect(verifyTrail(rewritten.trail, rewritten.state).problems[0]).toMatchObject({ kind: 'changed', file: `${DIGEST_DIR}/${firstDigest}` });
    expect(verifyTrail(removed.trail, removed.state).problems[0]).toMatchObject({ kind: 'removed' });
  });

  it('`audit verify` exits 1 and names the first tampered file; 0 on the untouched trail', async () => {
    const good = copy();
    const bad = copy();
    const [a, b] = logFiles(bad.trail);
    renameSync(join(bad.trail, b ?? ''), join(bad.trail, `${b}.moved`));
    writeFileSync(join(bad.trail, a ?? ''), 'changed\n');
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };

    expect(await main(['verify', '--dir', good.dir], io)).toBe(0);
    expect(await main(['verify', '--dir', bad.dir], io)).toBe(1);
    expect(out.at(-1)).toBe(`trail NOT intact: first changed file ${a}`);
  });
});

describe('a running local KMS', () => {
  it('reports the records after the newest digest as pending, not as tampering, and continues the chain after a restart', async () => {
    const { dir } = copy();
    const restarted = await startTestKms({ localDir: dir });
    try {
      await restarted.client('admin').send(new ListKeysCommand({}));
      const keys = await restarted.client('admin').send(new ListKeysCommand({}));
      await restarted.client('admin').send(new DescribeKeyCommand({ KeyId: keys.Keys?.[0]?.KeyId ?? '' }));

      const running = verifyTrail(join(dir, 'cloudtrail'), join(dir, 'kms'));

      expect(running.problems).toEqual([]);
      expect(running.pending.length).toBe(1);
    } finally {
      await restarted.close({ keepFiles: true });
    }
    expect(verifyTrail(join(dir, 'cloudtrail'), join(dir, 'kms'))).toMatchObject({ problems: [], pending: [] });
  });
});
