// The integration test for a real account (test/integ/integ.consent-capture.ts) checked without
// AWS: a fresh synthesis must equal the committed snapshot, asset hashes and account ids aside, so
// a change to the stack, its IAM policies or the assertion calls shows up as a snapshot diff to
// review (`npm run integ:snapshot` rewrites it). integ-runner itself cannot read this app's
// cloud assembly yet (docs/runbook.md).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SNAPSHOT_DIR, synthIntegApp, templatesOf } from '../integ/synth-integ.js';

type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

let outdir: string;
let fresh: Record<string, string>;
beforeAll(async () => {
  outdir = mkdtempSync(join(tmpdir(), 'cc-integ-test-'));
  await synthIntegApp(outdir);
  fresh = templatesOf(outdir);
}, 120_000);
afterAll(() => {
  rmSync(outdir, { recursive: true, force: true });
});

const committed = (name: string): Template => JSON.parse(readFileSync(join(SNAPSHOT_DIR, name), 'utf8')) as Template;
const assertionStack = (templates: Record<string, string>): string => Object.keys(templates).find((n) => n.includes('DeployAssert')) ?? 'none';

describe('integ test snapshot', () => {
  it('has the same stacks as the committed snapshot', () => {
    expect(Object.keys(fresh)).toEqual(readdirSync(SNAPSHOT_DIR).filter((n) => n.endsWith('.template.json')).sort());
  });

  it('matches the committed snapshot, stack by stack (run npm run integ:snapshot after a deliberate change)', () => {
    for (const [name, text] of Object.entries(fresh)) expect(JSON.parse(text), name).toEqual(committed(name));
  });

  it('asserts in order: grant, stored, consented policy, pause, refused, paused policy, administrator denied, erase, pending deletion', () => {
    const resources = Object.values(committed(assertionStack(fresh)).Resources).filter((r) => r.Type.startsWith('Custom::DeployAssert@SdkCallLambdainvoke'));
    const expected = resources.map((r) => String(r.Properties?.['expected'] ?? ''));
    const steps = ['active', 'stored', 'CaptureWhileConsented:Allow', 'paused', 'capture-not-permitted', 'Paused:Deny', 'putKeyPolicy', 'purg', 'PendingDeletion'];

    expect(expected).toHaveLength(steps.length);
    steps.forEach((step, n) => expect(expected[n], `assertion ${n + 1}`).toContain(step));
    expect(expected[6]).toMatch(/generateDataKey.*AccessDeniedException.*describeKey.*AccessDeniedException.*putKeyPolicy.*AccessDeniedException/);
  });
});
