// Builds the employee portal with Vite when its sources are newer than the build: `npm start`
// calls it so the page it serves is never stale, and the browser tests build into their own
// directory. Nothing built is committed; a build of this small page takes a few seconds.
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PORTAL_DIR } from './portal-files.js';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const SOURCES = ['portal/src', 'portal/index.html', 'portal/vite.config.ts', 'notices'].map((p) => join(REPO_ROOT, p));

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((newest, entry) => Math.max(newest, newestMtime(join(path, entry))), stat.mtimeMs);
}

/** Whether `outDir` holds a build at least as new as every source file. */
export function isPortalBuildCurrent(outDir = DEFAULT_PORTAL_DIR): boolean {
  const index = join(outDir, 'index.html');
  return existsSync(index) && statSync(index).mtimeMs >= Math.max(...SOURCES.map(newestMtime));
}

/** Builds the portal into `outDir` (the default: portal/dist) unless `force` is false and it is current. */
export async function buildPortal({ outDir = DEFAULT_PORTAL_DIR, force = false }: { outDir?: string; force?: boolean } = {}): Promise<{ built: boolean; ms: number }> {
  const t0 = performance.now();
  if (!force && isPortalBuildCurrent(outDir)) return { built: false, ms: 0 };
  // Loaded only when needed: `npm start` with a current build never pays for Vite.
  const { build } = await import('vite');
  // Built beside the target and swapped in, so two `npm start`s building at once (tests do) never
  // serve or empty each other's half-written directory.
  const staging = `${outDir.replace(/[/\\]+$/, '')}.building-${process.pid}`;
  await build({ configFile: join(REPO_ROOT, 'portal/vite.config.ts'), logLevel: 'warn', build: { outDir: staging, emptyOutDir: true } });
  rmSync(outDir, { recursive: true, force: true });
  try {
    renameSync(staging, outDir);
  } catch (error) {
    // Another build swapped its own in first: the same sources, so keep that one.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(join(outDir, 'index.html'))) throw error;
  }
  return { built: true, ms: Math.round(performance.now() - t0) };
}
