// `npm start`: the local stack in the foreground until Ctrl-C, SIGTERM, or its parent (npm) going
// away. `PORT` sets the API port (default 3000; 0 picks one), `LOCAL_DIR` the state directory
// (default `.local`), and `--fresh` wipes it first. Before starting anything it checks the Node
// version, that no other `npm start` runs on the same directory, and that the port is free.
// Prints progress, then exactly one `consent-capture ready at <api url>` line once stack.json is written.
import './node-version.js';
import { readdirSync, rmSync } from 'node:fs';
import { join, parse, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildPortal } from './portal-build.js';
import { stopOnSignalOrOrphaning } from './shutdown.js';
import { startLocalStack, type LocalStack } from './stack.js';
import { acquireInstanceLock, assertPortFree, StartupCheckError, type InstanceLock } from './startup-checks.js';

function fail(message: string, code: number): never {
  process.stderr.write(`consent-capture: ${message}\n`);
  process.exit(code);
}

let values: { fresh?: boolean; quiet?: boolean };
try {
  ({ values } = parseArgs({
    options: {
      fresh: { type: 'boolean', default: false },
      // Suppresses the per-request lines; progress, faults and function logs still print.
      quiet: { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (error) {
  fail(`${error instanceof Error ? error.message : String(error)}\nusage: npm start [-- --fresh] [-- --quiet]   (PORT=3000 LOCAL_DIR=.local)`, 2);
}

const portText = process.env['PORT'] ?? '3000';
const port = Number(portText);
if (!/^\d+$/.test(portText) || port > 65_535) fail(`PORT=${portText} is not a port number; use 0-65535 (0 picks a free port)`, 2);

const localDir = resolve(process.env['LOCAL_DIR'] ?? '.local');
if (values.fresh && (localDir === parse(localDir).root || localDir === resolve(process.cwd()) || localDir === resolve(process.env['HOME'] ?? '/'))) {
  // Refuse to wipe anything that is plainly not a state directory.
  fail(`refusing to wipe ${localDir}; point LOCAL_DIR at the stack's own directory`, 2);
}

// Before anything else: a second `npm start` on the same directory would share (and with --fresh
// wipe) the first one's state, and a taken port would fail only after every service had started.
let lock: InstanceLock;
try {
  lock = acquireInstanceLock(localDir, 'consent-capture (npm start)');
  const held = lock;
  process.on('exit', () => held.release());
  await assertPortFree(port, 'PORT');
} catch (error) {
  if (error instanceof StartupCheckError) fail(error.message, 1);
  throw error;
}

if (values.fresh) {
  for (const entry of readdirSync(localDir)) if (join(localDir, entry) !== lock.file) rmSync(join(localDir, entry), { recursive: true, force: true });
  process.stdout.write(`wiped ${localDir}\n`);
}

// This process's own SDK clients (table creation) would otherwise warn on every start.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

// The page served at `/`: rebuilt only when its sources changed since the last build.
try {
  const portal = await buildPortal();
  if (portal.built) process.stdout.write(`built the employee portal (${portal.ms} ms)\n`);
} catch (error) {
  fail(`the employee portal did not build:\n${error instanceof Error ? error.message : String(error)}`, 1);
}

let stack: LocalStack;
try {
  stack = await startLocalStack({
    localDir,
    port,
    onProgress: (line) => process.stdout.write(`${line}\n`),
    onNote: (line) => {
      const isRequestLine = /^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /.test(line);
      if (!isRequestLine || !values.quiet) process.stderr.write(`${line}\n`);
    },
  });
} catch (error) {
  fail(`the local stack did not start:\n${error instanceof Error ? error.message : String(error)}`, 1);
}

const sinceLaunch = Math.round(process.uptime() * 1000);
process.stdout.write(`started in ${stack.startupMs} ms (${sinceLaunch} ms since launch); endpoints and principals in ${stack.stackFilePath}\n`);
process.stdout.write(`employee portal at ${stack.portal}\n`);
process.stdout.write(`consent-capture ready at ${stack.api}\n`);

stopOnSignalOrOrphaning({ name: 'consent-capture', stoppingLine: 'consent-capture stopping (Ctrl-C again to force)', stop: () => stack.close() });
