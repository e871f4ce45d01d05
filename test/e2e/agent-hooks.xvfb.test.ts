// Real input: under Xvfb, the reference agent runs with `--source hooks` (uiohook-napi), xdotool
// types a sentence and clicks, and the employee's export holds the sentence and the clicks. CI
// installs xvfb and xdotool (.ci/run) and so runs it; on a machine without them the test reports
// itself skipped with the reason (and with CI=true a missing tool is a failure, never a skip).
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOTICE, startTestStack, type ConsentTestStack } from '../support/consent-api.js';
import { exportApi } from '../support/export-api.js';
import { downloadExport } from '../support/export-lines.js';
import { pollUntil } from '../support/local-stack.js';

const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const hookInstalled = existsSync(new URL('../../node_modules/uiohook-napi/prebuilds', import.meta.url));
const missing = [has('Xvfb') ? '' : 'Xvfb', has('xdotool') ? '' : 'xdotool', hookInstalled ? '' : 'uiohook-napi'].filter((m) => m !== '');
const reason = missing.length === 0 ? '' : ` (skipped: ${missing.join(', ')} not installed; apt-get install xvfb xdotool, npm ci)`;
if (missing.length > 0 && process.env['CI'] === 'true') throw new Error(`CI must run the real-input test, but ${missing.join(', ')} is missing`);

const SENTENCE = 'the quick brown fox jumps over 13 lazy dogs';
let t: ConsentTestStack;
let xvfb: ChildProcess | undefined;
let dir: string;
// Inside node_modules, so the bundle's import of the optional uiohook-napi resolves as from the repo.
const bundle = new URL(`../../node_modules/.cache/consent-capture/agent-${process.pid}.mjs`, import.meta.url).pathname;
const display = `:${90 + Math.floor(Math.random() * 100)}`;

describe.skipIf(missing.length > 0)(`real keystrokes and clicks under Xvfb${reason}`, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cc-xvfb-'));
    xvfb = spawn('Xvfb', [display, '-screen', '0', '1024x768x24', '-nolisten', 'tcp'], { stdio: 'ignore' });
    [t] = await Promise.all([
      startTestStack(),
      build({ entryPoints: ['agent/cli.ts'], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, logLevel: 'silent', external: ['uiohook-napi', 'get-windows', '@napi-rs/keyring'] }),
    ]);
    await pollUntil(() => spawnSync('xdotool', ['getmouselocation'], { env: { ...process.env, DISPLAY: display } }).status === 0, { timeoutMs: 10_000, what: 'Xvfb answering' });
  }, 90_000);
  afterAll(async () => {
    xvfb?.kill('SIGTERM');
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(bundle, { force: true });
  });

  it('finds the typed sentence and the clicks in the export', async () => {
    // Arrange
    const employee = 'e-hooks';
    expect((await t.call('POST', '/v1/consent', { token: await t.token(employee, 'consent:manage'), body: { scopes: ['keystrokes', 'clicks'], ...NOTICE } })).status).toBe(200);
    const env = { ...process.env, DISPLAY: display, AGENT_TOKEN: await t.token(employee, 'capture:write', 600), AGENT_KEYCHAIN: '0' };
    const args = [bundle, '--api', t.stack.api, '--source', 'hooks', '--device', 'xvfb-box', '--queue', join(dir, 'queue'), '--flush-ms', '300', '--quiet'];
    const agent = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    agent.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    await pollUntil(() => stderr.includes('agent: capturing from hooks; consent active'), { timeoutMs: 30_000, what: `the agent starting (${stderr.slice(0, 300)})` });
    const xdotool = (...a: string[]) => expect(spawnSync('xdotool', a, { env: { ...process.env, DISPLAY: display } }).status).toBe(0);

    // Act
    xdotool('type', '--delay', '15', SENTENCE);
    xdotool('key', 'Return');
    xdotool('mousemove', '120', '240', 'click', '1');
    xdotool('mousemove', '300', '400', 'click', '3');
    await new Promise<void>((resolve) => {
      agent.on('exit', () => resolve());
      // Let the idle run end and a flush and send happen, then stop (stop queues the rest).
      setTimeout(() => agent.kill('SIGTERM'), 2_500);
    });
    // Not spawnSync: the stack answering the drain runs in this process's event loop.
    const drained = await promisify(execFile)(process.execPath, [...args.filter((a) => a !== '--quiet' && a !== 'hooks' && a !== '--source'), '--drain'], { env });
    expect(drained.stdout).toMatch(/queued 0/);

    // Assert
    const api = exportApi(t);
    const requested = await api.requestExport(employee);
    const finished = await api.untilFinished(employee, String(requested.body['exportId']));
    const { lines } = await downloadExport(String(finished.url));
    const typed = lines.filter((l) => l['kind'] === 'keystroke').sort((a, b) => Number(a['ts']) - Number(b['ts'])).map((l) => String(l['text'])).join('');
    expect(typed).toContain(SENTENCE);
    const clicks = lines.filter((l) => l['kind'] === 'click').map((l) => [l['x'], l['y'], l['button']]);
    expect(clicks).toEqual(expect.arrayContaining([[120, 240, 'left'], [300, 400, 'right']]));
  }, 90_000);
});
