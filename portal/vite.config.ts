// Builds the employee portal into portal/dist: one hashed script and one stylesheet, no inline
// script (the CSP allows scripts from the page's own origin only).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No modulepreload polyfill: it would be the only reason for extra script, and every browser
    // the portal supports has modulepreload.
    modulePreload: { polyfill: false },
    // Inline assets would need `data:` in the CSP for more than images.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
