// Synthesizes the integration test app (test/integ/integ.consent-capture.ts) without AWS, as
// integ-runner would, and normalizes its templates for comparison: asset hashes (which move with
// every dependency and bundler update) and account ids become placeholders. `npm run
// integ:snapshot` writes the result as the committed snapshot; test/infra/integ-snapshot.test.ts
// compares a fresh synthesis with it.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
export const INTEG_APP = 'test/integ/integ.consent-capture.ts';
/** integ-runner's layout: `<test file>.snapshot` beside the test. */
export const SNAPSHOT_DIR = join(REPO_ROOT, 'test/integ/integ.consent-capture.ts.snapshot');

/**
 * Asset hashes, account ids and the assertion calls' salts (the time of synthesis, so each deploy
 * runs them again) out; everything else (resources, IAM policies, assertion calls) stays.
 */
export function normalize(text: string): string {
  return text
    .replace(/\b[0-9a-f]{64}\b/g, '<asset-hash>')
    .replace(/arn:aws:iam::\d{12}:/g, 'arn:aws:iam::<account>:')
    .replace(/"salt": ?"\d+"/g, '"salt": "<salt>"');
}

/** Runs the integ app as the CLI would (CDK_OUTDIR set, so it synthesizes on exit), bundling skipped. */
export async function synthIntegApp(outdir: string): Promise<void> {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify({ 'aws:cdk:bundling-stacks': [] }) };
  await promisify(execFile)(process.execPath, ['--import', TSX, INTEG_APP], { cwd: REPO_ROOT, env, timeout: 120_000 });
}

/** The normalized templates of a cloud assembly, by file name. */
export function templatesOf(outdir: string): Record<string, string> {
  const names = readdirSync(outdir).filter((name) => name.endsWith('.template.json')).sort();
  return Object.fromEntries(names.map((name) => [name, normalize(readFileSync(join(outdir, name), 'utf8'))]));
}

/** `npm run integ:snapshot`: writes the normalized templates and the integ manifest as the snapshot. */
async function writeSnapshot(): Promise<void> {
  const outdir = mkdtempSync(join(tmpdir(), 'cc-integ-'));
  try {
    await synthIntegApp(outdir);
    rmSync(SNAPSHOT_DIR, { recursive: true, force: true });
    mkdirSync(SNAPSHOT_DIR, { recursive: true });
    for (const [name, text] of Object.entries(templatesOf(outdir))) writeFileSync(join(SNAPSHOT_DIR, name), text);
    writeFileSync(join(SNAPSHOT_DIR, 'integ.json'), normalize(readFileSync(join(outdir, 'integ.json'), 'utf8')));
    process.stdout.write(`wrote ${SNAPSHOT_DIR}\n`);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await writeSnapshot();
