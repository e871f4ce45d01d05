// `npm run smoke -- --api <url> --token <jwt>`: the post-deploy check of tools/smoke-check.ts, with
// its exit status (0 passed, 1 an unexpected answer, 2 bad arguments or nothing to check).
import { runSmoke } from './smoke-check.js';

process.exitCode = await runSmoke(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
