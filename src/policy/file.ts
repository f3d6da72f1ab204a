/** Reading policy files from disk, with errors that name the file. */
import { readFile } from 'node:fs/promises';
import { decodeUtf8 } from '../diagnostics/text.js';
import { McpPolicyError, PolicyValidationError } from '../core/errors.js';
import { type Policy, type PolicySource } from './model.js';
import { loadPolicyText } from './validate.js';

/**
 * Reads a file as UTF-8 text; throws `read_failed` naming the file, and
 * {@link PolicyValidationError} with an `invalid_encoding` issue when it is not UTF-8.
 */
export async function readTextFile(path: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new McpPolicyError(
      'read_failed',
      `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  const decoded = decodeUtf8(bytes);
  if ('issue' in decoded) throw new PolicyValidationError([decoded.issue], path);
  return decoded.text;
}

/** Reads and validates a policy file; throws {@link PolicyValidationError} when it is invalid. */
export async function loadPolicyFile(path: string): Promise<{ policy: Policy; source: PolicySource }> {
  return loadPolicyText(await readTextFile(path), path);
}
