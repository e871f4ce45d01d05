// Runs one measurement of a benchmark in a fresh node process (through tsx), so that each mode's
// peak RSS is its own: the child gets its config as JSON and prints its result as its last line.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export function runBenchChild<C extends { readonly mode: string }, R>(script: URL, config: C, deadline: number): Promise<R> {
  const path = fileURLToPath(script);
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const timeout = Math.max(1_000, deadline - Date.now());
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', tsx, path, JSON.stringify(config)], { timeout, maxBuffer: 1 << 20, env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${config.mode} run failed (${error.killed ? 'over the time cap' : error.message}): ${stderr.slice(0, 500)}`));
      resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as R);
    });
  });
}
