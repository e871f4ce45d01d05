// The benchmark's subject: the local KMS on 127.0.0.1 over a temporary directory (never .local/),
// with fresh principals. Run as a child process by bench/kms/index.ts, which it tells its URL and
// principals over IPC; the directory is removed when it stops.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kmsPaths, startLocalKms } from '../../local/kms/server.js';
import { loadOrCreateIdentity, PRINCIPAL_NAMES } from '../../local/principals.js';
import { loadTemplatePolicies } from '../../local/template-policies.js';

const localDir = mkdtempSync(join(tmpdir(), 'cc-bench-kms-'));
const paths = kmsPaths(localDir);
const identity = loadOrCreateIdentity(paths.principalsFile, await loadTemplatePolicies());
const kms = await startLocalKms({ stateDir: paths.stateDir, trailDir: paths.trailDir, identity });

const principals = Object.fromEntries(
  PRINCIPAL_NAMES.map((name) => {
    const { arn, accessKeyId, secretAccessKey } = identity.principals[name];
    return [name, { arn, accessKeyId, secretAccessKey }];
  }),
);
process.send?.({ type: 'ready', url: kms.url, region: identity.region, account: identity.account, principals });

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  const finish = (code: number): void => {
    rmSync(localDir, { recursive: true, force: true });
    // process.exit, not a signal, so that --cpu-prof gets to write its profile.
    process.exit(code);
  };
  kms.close().then(
    () => finish(0),
    (error: unknown) => {
      process.stderr.write(`bench kms-server: close failed: ${String(error)}\n`);
      finish(1);
    },
  );
}
process.on('message', (message: unknown) => {
  if (message === 'stop') stop();
  // CPU time so far, so the parent can charge this process's CPU per request it served.
  if (message === 'cpu') process.send?.({ type: 'cpu', ...process.cpuUsage() });
});
process.on('disconnect', stop);
