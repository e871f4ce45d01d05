// Stops a long-running command (npm start, npm run kms) once, whatever asks: Ctrl-C, SIGTERM,
// SIGHUP, or the command that launched it going away. `kill <npm pid>` makes npm pass SIGTERM to
// its shell and exit; the shell dies, but tsx and this process would keep the whole stack running
// as orphans. So this process watches its nearest ancestors (tsx, the shell, npm) and stops as
// soon as one of them is gone. Its own children (the s3rver process) watch their IPC channel.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ShutdownOptions {
  /** Closes everything; the process exits 0 when it resolves, 1 when it rejects. */
  readonly stop: () => Promise<void>;
  /** Printed once when stopping starts. */
  readonly stoppingLine: string;
  /** Prefix of error lines, e.g. `consent-capture`. */
  readonly name: string;
  /** @default 500 */
  readonly parentPollMs?: number;
}

/** How many ancestors are watched: tsx's CLI, the `sh -c` npm runs a script in, and npm itself. */
const WATCHED_ANCESTORS = 3;

/** The parent of `pid`, from /proc on Linux or `ps` elsewhere; undefined if it cannot be told. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid …; comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    try {
      const ppid = Number(execFileSync('ps', ['-o', 'ppid=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      return Number.isInteger(ppid) ? ppid : undefined;
    } catch {
      return undefined;
    }
  }
}

/** This process's ancestors, nearest first, up to WATCHED_ANCESTORS and never init (pid 1). */
function ancestors(): number[] {
  const chain: number[] = [];
  let pid: number | undefined = process.ppid;
  while (pid !== undefined && pid > 1 && chain.length < WATCHED_ANCESTORS) {
    chain.push(pid);
    pid = parentOf(pid);
  }
  return chain;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One Ctrl-C reaches the process twice (from the terminal's process group and via npm). */
const DUPLICATE_SIGNAL_MS = 1_000;

export function stopOnSignalOrOrphaning(options: ShutdownOptions): void {
  let stoppingSince: number | undefined;
  const stop = (reason: 'signal' | 'orphaned'): void => {
    if (stoppingSince !== undefined) {
      if (reason === 'orphaned' || Date.now() - stoppingSince < DUPLICATE_SIGNAL_MS) return;
      process.stderr.write(`${options.name}: stopping anyway\n`);
      process.exit(1);
    }
    stoppingSince = Date.now();
    process.stdout.write(`${options.stoppingLine}\n`);
    options.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`${options.name}: did not stop cleanly: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => stop('signal'));

  const watched = ancestors();
  const watch = setInterval(() => {
    const gone = watched.find((pid) => !isAlive(pid));
    if (gone === undefined) return;
    clearInterval(watch);
    process.stderr.write(`${options.name}: the process that started it (pid ${gone}) is gone; stopping\n`);
    stop('orphaned');
  }, options.parentPollMs ?? 500);
  watch.unref();
}
