// Attacks on `audit verify` (tools/audit/trail-verify.ts) by someone who can write the local trail's
// directory, or a copy of it handed to an auditor: the digest chain must prove its own end, so
// deleting the newest digests and rewriting what they covered is named, not read as "pending".
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIGEST_DIR, TrailDigester } from '../../local/kms/trail-digest.js';
import { verifyTrail } from '../../tools/audit/trail-verify.js';

let root: string;
let trailDir: string;
let stateDir: string;
const LOG = '123456789012_CloudTrail_us-east-1_20261130T1300Z.jsonl';

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'cc-trail-verify-'));
  trailDir = join(root, 'cloudtrail');
  stateDir = join(root, 'kms');
  // Two digests: one while the writer runs, and the final one when it stops.
  const digester = new TrailDigester(trailDir, stateDir, '123456789012', 'us-east-1');
  mkdirSync(trailDir, { recursive: true });
  writeFileSync(join(trailDir, LOG), '{"eventName":"GenerateDataKey","n":1}\n');
  digester.write(new Date('2026-11-30T13:00:00Z'), false);
  appendFileSync(join(trailDir, LOG), '{"eventName":"Decrypt","principal":"admin"}\n');
  digester.write(new Date('2026-11-30T13:10:00Z'), true);
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const digests = (): string[] => readdirSync(join(trailDir, DIGEST_DIR)).filter((n) => n.endsWith('.json')).sort();

describe('someone who can write the trail directory', () => {
  it('leaves an untouched trail intact', () => {
    expect(verifyTrail(trailDir, stateDir)).toMatchObject({ digests: 2, problems: [], pending: [] });
  });

  // The hole: a chain proves nothing about its own end. Deleting the final digest turned the
  // records it covered into "pending" (as if the writer still ran), so they could be rewritten and
  // `verify` passed; deleting every digest of a one-file trail read as "intact, 0 digests".
  it('cannot delete the final digest and rewrite the records it covered', () => {
    // Arrange
    const final = digests().at(-1) ?? '';
    rmSync(join(trailDir, DIGEST_DIR, final));
    rmSync(join(trailDir, DIGEST_DIR, `${final}.sig`));
    writeFileSync(join(trailDir, LOG), '{"eventName":"GenerateDataKey","n":1}\n{"eventName":"Decrypt","principal":"export"}\n');

    // Act
    const result = verifyTrail(trailDir, stateDir);

    // Assert
    expect(result.problems).toContainEqual(expect.objectContaining({ kind: 'removed', file: `${DIGEST_DIR}/${final}` }));
  });

  it('cannot delete every digest', () => {
    rmSync(join(trailDir, DIGEST_DIR), { recursive: true });

    const result = verifyTrail(trailDir, stateDir);

    expect(result.problems.length).toBeGreaterThan(0);
    expect(result.problems[0]).toMatchObject({ kind: 'removed' });
  });
});
