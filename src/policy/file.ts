/** Reading policy files from disk, with errors that name the file. */
import { readFile } from 'node:fs/promises';
import { McpPolicyError } from '../errors.js';
import { type Policy, type PolicySource } from './model.js';
import { loadPolicyText, parsePolicy, type ValidationResult } from './validate.js';

/** Reads a file as UTF-8 text; throws `read_failed` naming the file. */
export async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new McpPolicyError(
      'read_failed',
      `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}

/** Reads and validates a policy file without throwing for invalid content. */
export async function checkPolicyFile(path: string): Promise<ValidationResult> {
  return parsePolicy(await readTextFile(path));
}

/** Reads and validates a policy file; throws {@link PolicyValidationError} when it is invalid. */
export async function loadPolicyFile(path: string): Promise<{ policy: Policy; source: PolicySource }> {
  return loadPolicyText(await readTextFile(path), path);
}
