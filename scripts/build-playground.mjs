#!/usr/bin/env node
// Builds the playground into dist/playground/: index.html, one minified
// app.js (CodeMirror, the schemas and the browser-safe model from src/), the
// analysis worker.js and one app.css. Everything the page needs is in these files, so any static
// file server can serve them with no network.
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'playground');

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
// zod's namespace re-exports every locale (about 260 kB minified); the validator only ever speaks English,
// so the page bundles English alone.
const englishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[/\\]zod[/\\]/.test(args.importer)
        ? { path: join(dirname(args.importer), '..', 'locales', 'en.js'), namespace: 'zod-locales' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: dirname(args.path),
    }));
  },
};
const script = {
  bundle: true,
  minify: true,
  platform: 'browser',
  target: ['es2022'],
  legalComments: 'none',
  plugins: [englishOnly],
  logLevel: 'warning',
};
// The page, and its analysis worker (check, lint, coverage, diff) as a classic script of its own,
// so typing never waits for an analysis.
await Promise.all([
  build({
    ...script,
    entryPoints: [join(root, 'playground', 'src', 'main.ts')],
    format: 'esm',
    outfile: join(out, 'app.js'),
  }),
  build({
    ...script,
    entryPoints: [join(root, 'playground', 'src', 'analysis-worker.ts')],
    format: 'iife',
    outfile: join(out, 'worker.js'),
  }),
]);
await build({
  entryPoints: [join(root, 'playground', 'app.css')],
  bundle: true,
  minify: true,
  outfile: join(out, 'app.css'),
  logLevel: 'warning',
});
await copyFile(join(root, 'playground', 'index.html'), join(out, 'index.html'));
