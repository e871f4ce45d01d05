// What `npm start` and `npm run kms` check before they start anything: that no other instance runs
// in the same state directory (a pid file checked for liveness; a stale one is taken over), and
// that the port they will listen on is free. Each failure is one sentence that says what to do.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A check failed; the message is for people, one line, and the command exits 1. */
export class StartupCheckError extends Error {
  override readonly name = 'StartupCheckError';
}

export interface InstanceLock {
  readonly file: string;
  /** Removes the pid file if it is still ours. */
  release(): void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function pidIn(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes `<dir>/<name>.pid` for this process. Another live process holding it is an error that
 * names it; a pid file whose process is gone (a crash, a SIGKILL) is taken over.
 */
export function acquireInstanceLock(dir: string, what: string, name = 'instance'): InstanceLock {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${name}.pid`);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return {
        file,
        release: () => {
          if (pidIn(file) === process.pid) rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = pidIn(file);
      if (holder !== undefined && holder !== process.pid && isAlive(holder)) {
        throw new StartupCheckError(`${what} is already running in ${dir} (pid ${holder}); stop it first, or give this one another directory`);
      }
      // Stale: its process is gone. Remove it and try once more (another starter may win the race).
      rmSync(file, { force: true });
    }
  }
  throw new StartupCheckError(`another ${what} started in ${dir} at the same moment; stop it first`);
}

/** Resolves when `port` on 127.0.0.1 can be listened on (0 always can); rejects with a message naming the port. */
export async function assertPortFree(port: number, variable: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(new StartupCheckError(`port ${port} is already in use on 127.0.0.1: stop what uses it, or set ${variable} to a free port (${variable}=0 picks one)`));
      } else if (error.code === 'EACCES') {
        reject(new StartupCheckError(`port ${port} needs privileges on this machine: set ${variable} to a port above 1023 (${variable}=0 picks one)`));
      } else reject(error);
    });
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

