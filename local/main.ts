// `npm start`: the local stack in the foreground until Ctrl-C. `PORT` sets the API port (default
// 3000; 0 picks one), `LOCAL_DIR` the state directory (default `.local`), and `--fresh` wipes it first.
// Prints progress, then exactly one `consent-capture ready at <api url>` line once stack.json is written.
import { rmSync } from 'node:fs';
import { parse, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalStack, type LocalStack } from './stack.js';

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
if (values.fresh) {
  // Refuse to wipe anything that is plainly not a state directory.
  if (localDir === parse(localDir).root || localDir === resolve(process.cwd()) || localDir === resolve(process.env['HOME'] ?? '/')) {
    fail(`refusing to wipe ${localDir}; point LOCAL_DIR at the stack's own directory`, 2);
  }
  rmSync(localDir, { recursive: true, force: true });
  process.stdout.write(`wiped ${localDir}\n`);
}

// This process's own SDK clients (table creation) would otherwise warn on every start.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

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
process.stdout.write(`consent-capture ready at ${stack.api}\n`);

let stoppingSince: number | undefined;
/** One Ctrl-C reaches this process twice (from the terminal's process group and via npm/tsx). */
const DUPLICATE_SIGNAL_MS = 1_000;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stoppingSince !== undefined) {
      if (Date.now() - stoppingSince < DUPLICATE_SIGNAL_MS) return;
      process.stderr.write('consent-capture: stopping anyway\n');
      process.exit(1);
    }
    stoppingSince = Date.now();
    process.stdout.write('consent-capture stopping (Ctrl-C again to force)\n');
    stack.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`consent-capture: did not stop cleanly: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  });
}
