// `npm start`, `npm run kms` and `npm run token` as people run them: separate processes, real
// handlers, the ready line, --fresh, Ctrl-C (SIGTERM), a second start on the same directory, a
// taken port, no process left behind when npm itself is killed, and the token tool's argument checks.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../support/local-stack.js';

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const REPO = process.cwd();

function run(script: string, args: string[], env: Record<string, string>, cwd = REPO): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', TSX, join(REPO, script), ...args], {
    cwd,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...env },
  });
}

async function runToEnd(script: string, args: string[], env: Record<string, string>, cwd = REPO): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = run(script, args, env, cwd);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

describe('npm start', () => {
  const localDir = join(mkdtempSync(join(tmpdir(), 'cc-cli-')), '.local');
  let child: ChildProcessWithoutNullStreams;
  let stdout = '';
  let api = '';

  beforeAll(async () => {
    // Arrange: leftovers that --fresh must wipe, and the pid file of an instance that died without cleaning up.
    mkdirSync(localDir, { recursive: true });
    writeFileSync(join(localDir, 'leftover.txt'), 'stale');
    writeFileSync(join(localDir, 'instance.pid'), `${deadPid()}\n`);
    child = run('local/main.ts', ['--fresh', '--quiet'], { PORT: '0', LOCAL_DIR: localDir });
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', () => undefined);
    // A bound for a stack that never comes up, not a pace: a separate process that loads tsx and
    // every service can take longer than 25 s while the suite's other workers share the cores.
    api = await pollUntil(() => /consent-capture ready at (\S+)\n/.exec(stdout)?.[1], { timeoutMs: 60_000, what: 'the ready line' });
  }, 70_000);

  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(join(localDir, '..'), { recursive: true, force: true });
  });

  it('prints exactly one ready line, after its start-up time, and writes stack.json first', () => {
    const stack = JSON.parse(readFileSync(join(localDir, 'stack.json'), 'utf8')) as { api: string };
    expect(stdout.match(/consent-capture ready at/g)).toHaveLength(1);
    expect(stdout).toMatch(/started in \d+ ms/);
    expect(stack.api).toBe(api);
  });

  it('wipes the state directory first with --fresh', () => {
    expect(existsSync(join(localDir, 'leftover.txt'))).toBe(false);
  });

  it('takes over the pid file of an instance that is gone', () => {
    expect(readFileSync(join(localDir, 'instance.pid'), 'utf8').trim()).toBe(String(child.pid));
  });

  it('refuses a second start on the same directory in one line, exit 1, and leaves the first running', async () => {
    const second = await runToEnd('local/main.ts', ['--fresh'], { PORT: '0', LOCAL_DIR: localDir });

    expect(second.code).toBe(1);
    expect(second.stderr).toBe(`consent-capture: consent-capture (npm start) is already running in ${localDir} (pid ${child.pid}); stop it first, or give this one another directory\n`);
    expect(second.stdout).toBe('');
    expect(existsSync(join(localDir, 'stack.json'))).toBe(true);
    expect((await fetch(`${api}/v1/consent`)).status).toBe(401);
  });

  it('accepts a token from `npm run token` at the gateway', async () => {
    // Arrange
    const minted = await runToEnd('tools/token.ts', ['--employee', 'e-1', '--scope', 'consent:manage', '--ttl', '60'], { LOCAL_DIR: localDir });

    // Act
    const response = await fetch(`${api}/v1/consent`, { headers: { authorization: `Bearer ${minted.stdout.trim()}` } });
    await response.arrayBuffer();

    // Assert
    expect(minted.code).toBe(0);
    expect(minted.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect([401, 403]).not.toContain(response.status);
  });

  it('stops cleanly with exit code 0 on SIGTERM, and removes its pid file', async () => {
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(join(localDir, 'instance.pid'))).toBe(false);
  });
});

/** A pid that no process has now: a child that has already exited. */
function deadPid(): number {
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(gone.stdout);
}

/** Every process below `pid`, from /proc (the CI and dev machines are Linux). */
function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited while we looked
    }
  }
  const found: number[] = [];
  const walk = (p: number): void => {
    for (const c of children.get(p) ?? []) {
      found.push(c);
      walk(c);
    }
  };
  walk(pid);
  return found;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start, started by npm', () => {
  it('leaves no process of the stack behind when the npm process gets SIGTERM', async () => {
    // Arrange: the real `npm start`, as a person or a supervisor runs it.
    const dir = mkdtempSync(join(tmpdir(), 'cc-npm-'));
    const npm = spawn('npm', ['start', '--silent', '--', '--quiet'], {
      cwd: REPO,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', PORT: '0', LOCAL_DIR: join(dir, '.local') },
    });
    let out = '';
    npm.stdout.on('data', (c: Buffer) => (out += c.toString()));
    npm.stderr.on('data', () => undefined);
    let stack: number[] = [];
    try {
      await pollUntil(() => out.includes('consent-capture ready at'), { timeoutMs: 60_000, what: 'the ready line' });
      stack = descendantsOf(npm.pid ?? -1);
      // npm, its shell, tsx, the stack itself and the s3rver process.
      expect(stack.length).toBeGreaterThanOrEqual(3);

      // Act
      npm.kill('SIGTERM');

      // Assert: every one of them is gone within the deadline.
      await pollUntil(() => stack.every((pid) => !isAlive(pid)), { timeoutMs: 10_000, what: `the stack's processes (${stack.join(', ')}) to exit` });
      expect(stack.filter(isAlive)).toEqual([]);
    } finally {
      // Whatever failed, leave nothing running.
      for (const pid of [...stack, ...descendantsOf(npm.pid ?? -1)].filter(isAlive)) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe('start-up checks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-checks-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names a taken port and PORT=, exits 1, and starts nothing', async () => {
    // Arrange: something else listens on the port.
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const port = (squatter.address() as AddressInfo).port;
    const localDir = join(dir, 'port-taken');
    try {
      // Act
      const result = await runToEnd('local/main.ts', [], { PORT: String(port), LOCAL_DIR: localDir });

      // Assert
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`consent-capture: port ${port} is already in use on 127.0.0.1: stop what uses it, or set PORT to a free port (PORT=0 picks one)\n`);
      expect(result.stdout).not.toContain('starting');
      expect(readdirSync(localDir)).toEqual([]);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});

describe('npm run kms', () => {
  it("keeps its own directory (.local-kms) by default, so a running npm start's .local is untouched", async () => {
    // Arrange: a folder where `npm start` has written its stack.json.
    const cwd = mkdtempSync(join(tmpdir(), 'cc-kms-'));
    mkdirSync(join(cwd, '.local'));
    const startFile = `${JSON.stringify({ api: 'http://127.0.0.1:3000', endpoints: { kms: 'http://127.0.0.1:1' } })}\n`;
    writeFileSync(join(cwd, '.local', 'stack.json'), startFile);
    const kms = run('local/kms/main.ts', [], { LOCAL_DIR: join(cwd, '.local') }, cwd);
    let out = '';
    kms.stdout.on('data', (c: Buffer) => (out += c.toString()));
    kms.stderr.on('data', () => undefined);
    try {
      // Act
      const url = await pollUntil(() => /local KMS ready at (\S+)/.exec(out)?.[1], { timeoutMs: 20_000, what: 'the KMS ready line' });

      // Assert
      const own = JSON.parse(readFileSync(join(cwd, '.local-kms', 'stack.json'), 'utf8')) as { endpoints: { kms: string }; api?: string };
      expect(own.endpoints.kms).toBe(url);
      expect(own.api).toBeUndefined();
      expect(readFileSync(join(cwd, '.local', 'stack.json'), 'utf8')).toBe(startFile);
      expect(readdirSync(join(cwd, '.local'))).toEqual(['stack.json']);
    } finally {
      const exited = new Promise((resolve) => kms.on('exit', resolve));
      kms.kill('SIGTERM');
      await exited;
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('refuses a second local KMS on the same directory', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cc-kms2-'));
    const first = run('local/kms/main.ts', ['--dir', 'state'], {}, cwd);
    let out = '';
    first.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await pollUntil(() => out.includes('local KMS ready at'), { timeoutMs: 20_000, what: 'the KMS ready line' });

      const second = await runToEnd('local/kms/main.ts', ['--dir', 'state'], {}, cwd);

      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/^local-kms: the local KMS \(npm run kms\) is already running in .*state \(pid \d+\); stop it first/);
    } finally {
      const exited = new Promise((resolve) => first.on('exit', resolve));
      first.kill('SIGTERM');
      await exited;
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describe('npm run token', () => {
  const emptyDir = mkdtempSync(join(tmpdir(), 'cc-token-'));
  afterAll(() => rmSync(emptyDir, { recursive: true, force: true }));

  it.each([
    [['--scope', 'consent:manage'], /--employee is required/],
    [['--employee', 'e 1', '--scope', 'consent:manage'], /is not an id/],
    [['--employee', 'e-1'], /--scope is required/],
    [['--employee', 'e-1', '--scope', 'consent:manage admin:all'], /unknown scope "admin:all"/],
    [['--employee', 'e-1', '--scope', 'consent:manage', '--ttl', '-5'], /use '--ttl=-XYZ'/],
    [['--employee', 'e-1', '--scope', 'consent:manage', '--ttl=0'], /--ttl "0" is not a lifetime/],
    [['--employee', 'e-1', '--scope', 'consent:manage', '--ttl', '1.5'], /--ttl "1.5" is not a lifetime/],
    [['--employee', 'e-1', '--scope', 'consent:manage', '--bogus'], /Unknown option '--bogus'/],
  ])('exits 2 with a clear message for %j', async (args, message) => {
    const result = await runToEnd('tools/token.ts', args, { LOCAL_DIR: emptyDir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain('usage: npm run --silent token');
    expect(result.stdout).toBe('');
  });

  it('tells the user to run npm start when there is no local issuer', async () => {
    const result = await runToEnd('tools/token.ts', ['--employee', 'e-1', '--scope', 'consent:manage'], { LOCAL_DIR: emptyDir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/run `npm start` first/);
  });
});
