/**
 * `npm run schemas`: writes the editors' JSON Schemas (src/schema/index.ts)
 * to schemas/<name>.schema.json, formatted as the repository formats JSON.
 * test/schemas.test.ts fails when the committed files differ from these.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { buildSchemas, SCHEMA_NAMES } from '../src/schema/index.js';

/** The package root: the nearest folder above this file (in scripts/ or dist/scripts/) with a package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** The folder the schemas are written to and shipped from. */
export const SCHEMAS_DIR = join(packageRoot(), 'schemas');

/** Each schema file's name and text, as the generator writes them. */
export async function schemaFiles(dir = SCHEMAS_DIR): Promise<Map<string, string>> {
  const schemas = buildSchemas();
  const files = new Map<string, string>();
  for (const name of SCHEMA_NAMES) {
    const file = join(dir, `${name}.schema.json`);
    const options = (await resolveConfig(file)) ?? {};
    files.set(`${name}.schema.json`, await format(JSON.stringify(schemas[name]), { ...options, filepath: file }));
  }
  return files;
}

async function main(): Promise<void> {
  const files = await schemaFiles();
  await mkdir(SCHEMAS_DIR, { recursive: true });
  // A schema that is no longer generated must not linger in the package.
  for (const old of await readdir(SCHEMAS_DIR).catch(() => [])) {
    if (old.endsWith('.schema.json') && !files.has(old)) await rm(join(SCHEMAS_DIR, old));
  }
  for (const [name, text] of files) await writeFile(join(SCHEMAS_DIR, name), text);
  console.log(`schemas: wrote ${[...files.keys()].join(', ')} to ${SCHEMAS_DIR}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main();
}
