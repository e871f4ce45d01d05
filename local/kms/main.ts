// `npm run kms`: the local KMS alone, until Ctrl-C, SIGTERM or its parent going away. It keeps its
// own state directory (`.local-kms`, or --dir / KMS_DIR), so it never touches a running
// `npm start`'s `.local`: it writes stack.json there with the KMS endpoint and the principals.
import '../node-version.js';
import { readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadOrCreateIdentity } from '../principals.js';
import { stopOnSignalOrOrphaning } from '../shutdown.js';
import { stackFileOf, writeStackFile } from '../stack-file.js';
import { acquireInstanceLock, assertPortFree, StartupCheckError, type InstanceLock } from '../startup-checks.js';
import { loadTemplatePolicies } from '../template-policies.js';
import { kmsPaths, startLocalKms } from './server.js';

const USAGE = 'usage: npm run kms [-- --dir <state dir>] [-- --port <port>] [-- --fresh]   (KMS_DIR=.local-kms KMS_PORT=0)';

function fail(message: string, code: number): never {
  process.stderr.write(`local-kms: ${message}\n`);
  process.exit(code);
}

let values: { fresh?: boolean; port?: string; dir?: string };
try {
  ({ values } = parseArgs({
    options: {
      fresh: { type: 'boolean', default: false },
      port: { type: 'string', default: process.env['KMS_PORT'] ?? '0' },
      dir: { type: 'string', default: process.env['KMS_DIR'] ?? '.local-kms' },
    },
    strict: true,
  }));
} catch (error) {
  fail(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`, 2);
}

const localDir = resolve(values.dir ?? '.local-kms');
const portText = values.port ?? '0';
const port = Number(portText);
if (!/^\d+$/.test(portText) || port > 65_535) fail(`--port ${portText} is not a port number; use 0-65535 (0 picks a free port)`, 2);

let lock: InstanceLock;
try {
  lock = acquireInstanceLock(localDir, 'the local KMS (npm run kms)');
  const held = lock;
  process.on('exit', () => held.release());
  await assertPortFree(port, '--port');
} catch (error) {
  if (error instanceof StartupCheckError) fail(error.message, 1);
  throw error;
}
if (values.fresh) {
  for (const entry of readdirSync(localDir)) if (join(localDir, entry) !== lock.file) rmSync(join(localDir, entry), { recursive: true, force: true });
}

const paths = kmsPaths(localDir);
const policies = await loadTemplatePolicies({ onProgress: (line) => process.stdout.write(`${line}\n`) });
const identity = loadOrCreateIdentity(paths.principalsFile, policies);
const kms = await startLocalKms({ stateDir: paths.stateDir, trailDir: paths.trailDir, identity, port });
const file = writeStackFile(localDir, stackFileOf(identity, { endpoints: { kms: kms.url }, trailDir: paths.trailDir }));
process.stdout.write(`local KMS ready at ${kms.url} (account ${identity.account}; principals and endpoint in ${file})\n`);

stopOnSignalOrOrphaning({ name: 'local-kms', stoppingLine: 'local KMS stopping', stop: () => kms.close() });
