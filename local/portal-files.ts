// Serves the built employee portal (portal/dist) at `/` of the local gateway, with the same
// security headers CloudFront adds in AWS, and `/config.json` pointing the page at the local
// issuer's sign-in endpoints. The API stays under `/v1/*` on the same origin, so no CORS is needed.
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { portalSecurityHeaders, type PortalConfig } from '../contract/portal.js';

/** Where `npm run portal:build` writes the page. */
export const DEFAULT_PORTAL_DIR = fileURLToPath(new URL('../portal/dist/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

export interface LocalPortalFilesOptions {
  /** The built portal. @default - DEFAULT_PORTAL_DIR */
  readonly directory?: string;
  /** The sign-in configuration, known once the gateway listens. */
  readonly config: () => PortalConfig;
}

export interface LocalPortalFiles {
  /** Serves GET/HEAD of non-API paths; false for anything else. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

export function localPortalFiles(options: LocalPortalFilesOptions): LocalPortalFiles {
  const root = resolve(options.directory ?? DEFAULT_PORTAL_DIR);
  const headers = portalSecurityHeaders();
  return {
    handle(req, res) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      if (path.startsWith('/v1/')) return false;
      const send = (status: number, type: string, body: Buffer | string, cache: string): void => {
        const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
        res.writeHead(status, { ...headers, 'content-type': type, 'content-length': bytes.length, 'cache-control': cache });
        res.end(req.method === 'HEAD' ? undefined : bytes);
      };
      if (path === '/config.json') {
        send(200, CONTENT_TYPES['.json'] ?? 'application/json', JSON.stringify(options.config()), 'no-store');
        return true;
      }
      const index = join(root, 'index.html');
      if (!existsSync(index)) {
        send(503, 'text/plain; charset=utf-8', 'the portal is not built: run `npm run portal:build` (npm start builds it when its sources change)\n', 'no-store');
        return true;
      }
      // `/` and unknown paths without an extension are the single page; a file must stay under root.
      let decoded: string | undefined;
      try {
        decoded = decodeURIComponent(path);
      } catch {
        decoded = undefined;
      }
      const relative = path === '/' || extname(path) === '' ? 'index.html' : normalize(decoded ?? '').replace(/^[/\\]+/, '');
      const file = resolve(root, relative);
      if (decoded === undefined || !file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
        send(404, 'text/plain; charset=utf-8', 'not found\n', 'no-store');
        return true;
      }
      // Hashed asset names never change content; the page itself must always be fresh.
      const cache = relative.startsWith(`assets${sep}`) || relative.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
      send(200, CONTENT_TYPES[extname(file)] ?? 'application/octet-stream', readFileSync(file), cache);
      return true;
    },
  };
}
