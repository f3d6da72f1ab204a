#!/usr/bin/env node
// Builds the playground into dist/playground/: index.html, the minified
// app.js (CodeMirror, the schemas and the browser-safe model from src/), the
// analysis worker.js, the chunk of code both share, and app.css. Everything
// the page needs is in these files, so any static file server can serve them
// with no network.
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
// The page and its analysis worker (check, lint, coverage, diff), so typing never waits for an analysis.
// Both are ES modules that share their common code (the validator, the policy model) as chunks.
await build({
  entryPoints: {
    app: join(root, 'playground', 'src', 'main.ts'),
    worker: join(root, 'playground', 'src', 'analysis-worker.ts'),
  },
  bundle: true,
  splitting: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  outdir: out,
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  legalComments: 'none',
  plugins: [englishOnly],
  logLevel: 'warning',
});
await build({
  entryPoints: [join(root, 'playground', 'app.css')],
  bundle: true,
  minify: true,
  outfile: join(out, 'app.css'),
  logLevel: 'warning',
});
await copyFile(join(root, 'playground', 'index.html'), join(out, 'index.html'));
