// `npm run kms`: the local KMS alone. Writes `.local/stack.json` with the KMS endpoint and the
// principals, prints the URL, and runs until Ctrl-C.
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadOrCreateIdentity } from '../principals.js';
import { stackFileOf, writeStackFile } from '../stack-file.js';
import { loadTemplatePolicies } from '../template-policies.js';
import { kmsPaths, startLocalKms } from './server.js';

const { values } = parseArgs({
  options: {
    fresh: { type: 'boolean', default: false },
    port: { type: 'string', default: process.env['KMS_PORT'] ?? '0' },
    dir: { type: 'string', default: process.env['LOCAL_DIR'] ?? '.local' },
  },
});

const localDir = resolve(values.dir);
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  process.stderr.write(`local-kms: --port ${values.port} is not a port number; use 0-65535 (0 picks a free port)\n`);
  process.exit(2);
}
if (values.fresh) rmSync(localDir, { recursive: true, force: true });

const paths = kmsPaths(localDir);
const policies = await loadTemplatePolicies({ onProgress: (line) => process.stdout.write(`${line}\n`) });
const identity = loadOrCreateIdentity(paths.principalsFile, policies);
const kms = await startLocalKms({ stateDir: paths.stateDir, trailDir: paths.trailDir, identity, port });
const file = writeStackFile(localDir, stackFileOf(identity, { endpoints: { kms: kms.url }, trailDir: paths.trailDir }));
process.stdout.write(`local KMS ready at ${kms.url} (account ${identity.account}; principals and endpoint in ${file})\n`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('local KMS stopping\n');
    kms.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`local-kms: close failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  });
}
