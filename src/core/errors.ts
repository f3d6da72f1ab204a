/**
 * Typed errors. Every failure the library reports carries a stable `code`
 * (for programs) and a lowercase message that quotes user input (for people);
 * policy problems also carry a JSON pointer so editors and CI can point at the
 * exact spot.
 */

/** The codes of a bundle that cannot be used (`BundleError`): malformed, too large, inconsistent or not authentic. */
export const BUNDLE_ERROR_CODES = [
  'invalid_bundle',
  'bundle_truncated',
  'bundle_too_large',
  'invalid_manifest',
  'bundle_revision_mismatch',
  'bundle_unsigned',
  'bundle_signature_invalid',
  'bundle_file_mismatch',
  'invalid_verification_key',
] as const;

/**
 * Every code the library can report, in documents (`Issue`) and in thrown
 * errors (`McpPolicyError`). The list is closed so a new code cannot appear
 * without being added here, and docs/semantics.md documents each one (a test
 * holds both).
 */
export const ERROR_CODES = [
  // Reading documents.
  'invalid_json',
  'invalid_yaml',
  'invalid_encoding',
  'duplicate_key',
  'too_deep',
  'too_large',
  'too_many_aliases',
  // Policy and enterprise validation.
  'empty_document',
  'unknown_document',
  'ambiguous_document',
  'unexpected_document',
  'unknown_field',
  'missing_field',
  'invalid_type',
  'invalid_value',
  'invalid_number',
  'unsupported_version',
  'empty_array',
  'missing_decision',
  'conflicting_decision',
  'empty_pattern',
  'too_many_stars',
  'invalid_unicode',
  'conflicting_fields',
  'invalid_duration',
  'invalid_name',
  'invalid_url',
  'invalid_certificate',
  'reserved_name',
  'unsafe_value',
  'out_of_range',
  'misplaced_field',
  // Policy validation, version 2.
  'needs_version_2',
  'misplaced_key',
  'missing_test',
  'invalid_pointer',
  'too_many_entries',
  // Warnings.
  'unreachable_rule',
  'annotations_without_invoke',
  'docker_version_1_only',
  'unexpected_configuration_version',
  'unknown_directive',
  'misplaced_directive',
  'credential_header',
  // Thrown by the library and the CLI.
  'invalid_policy',
  'invalid_cases',
  'invalid_requests',
  ...BUNDLE_ERROR_CODES,
  'listen_failed',
  'invalid_wasm',
  'missing_entrypoint',
  'missing_data',
  'no_enterprise_config',
  'opa_not_found',
  'opa_version_mismatch',
  'opa_failed',
  'opa_timeout',
  'opa_no_output',
  'wasm_load_failed',
  'wasm_eval_failed',
  'output_not_empty',
  'read_failed',
  'write_failed',
  'disk_full',
  'read_only_file_system',
  'permission_denied',
  'invalid_local_settings',
  'usage',
  // The proxy.
  'server_denied',
  'server_start_failed',
  'invalid_lock_file',
  'invalid_proxy_config',
  'listen_failed',
  'method_refused',
  'listing_too_large',
  'server_failed',
  'shutting_down',
  // The decision service (serve) and bundle self-tests.
  'self_test_failed',
  'invalid_enterprise_config',
  'socket_in_use',
  'socket_path_too_long',
  'address_in_use',
  'worker_failed',
  'auth_required',
  // Decision logs (serve and proxy).
  'unsafe_log_file',
  'work_too_large',
  'server_busy',
  // Bearer and JWT authentication (src/host/auth.ts).
  'invalid_auth_config',
  'missing_token',
  'invalid_auth_header',
  'invalid_token',
  'insufficient_scope',
  'auth_unavailable',
  // The playground's local server (src/playground/server.ts).
  'forbidden_host',
  'forbidden_origin',
  'unsupported_media_type',
  'method_not_allowed',
  'not_found',
  'playground_not_built',
] as const;

/** A stable, documented error or warning code. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** A problem found in a policy or request document, located by JSON pointer. */
export interface Issue {
  /** Stable machine-readable code, e.g. `unknown_field`. */
  readonly code: ErrorCode;
  /** JSON pointer (RFC 6901) into the document; `""` is the whole document. */
  readonly path: string;
  /** Lowercase, human-readable; quotes the offending input. */
  readonly message: string;
  /** 1-based line of the offending value in the source text, when known. */
  readonly line?: number;
  /** 1-based column of the offending value in the source text, when known. */
  readonly column?: number;
  /**
   * Set when `path` points into a policy embedded as a string, such as the
   * `mcpPolicy.value` of Docker's admin-settings.json: the pointer of that
   * string in the outer document.
   */
  readonly within?: string;
}

/** Base class of every error thrown by mcp-policy. */
export class McpPolicyError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'McpPolicyError';
    this.code = code;
  }
}

/** Thrown when a policy document is not valid; `issues` lists every problem. */
export class PolicyValidationError extends McpPolicyError {
  readonly issues: readonly Issue[];
  readonly file: string | undefined;

  constructor(issues: readonly Issue[], file?: string) {
    const first = issues[0];
    const summary = first ? `${first.path || '/'}: ${first.message}` : 'invalid policy';
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    super('invalid_policy', `${file ? `${file}: ` : ''}${summary}${more}`);
    this.name = 'PolicyValidationError';
    this.issues = issues;
    this.file = file;
  }
}

/** Thrown when the `opa` CLI is missing, is the wrong release, or fails. */
export class OpaError extends McpPolicyError {
  /** What opa printed on stderr, when it ran. */
  readonly stderr: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; stderr?: string }) {
    super(code, message, options);
    this.name = 'OpaError';
    this.stderr = options?.stderr;
  }
}

/** Thrown when a WebAssembly policy cannot be loaded or evaluated. */
export class WasmError extends McpPolicyError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'WasmError';
  }
}

/**
 * The opa-wasm SDK throws plain strings and plain objects as well as Errors;
 * this turns any thrown value into readable text without losing it.
 */
export function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message;
  if (typeof thrown === 'string') return thrown;
  if (thrown && typeof thrown === 'object' && 'message' in thrown) {
    return String((thrown as { message: unknown }).message);
  }
  try {
    return JSON.stringify(thrown) ?? String(thrown);
  } catch {
    return String(thrown);
  }
}

/** Escapes one JSON pointer reference token (RFC 6901). */
export function pointerToken(token: string | number): string {
  return String(token).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Builds a JSON pointer from path segments. */
export function toPointer(path: readonly (string | number)[]): string {
  return path.map((p) => `/${pointerToken(p)}`).join('');
}

/**
 * The stable code of a file-system failure: `disk_full` (ENOSPC, EDQUOT),
 * `read_only_file_system` (EROFS), `permission_denied` (EACCES, EPERM), else
 * `write_failed`.
 */
export function fileSystemCode(thrown: unknown): ErrorCode {
  switch ((thrown as { code?: unknown } | undefined)?.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return 'disk_full';
    case 'EROFS':
      return 'read_only_file_system';
    case 'EACCES':
    case 'EPERM':
      return 'permission_denied';
    default:
      return 'write_failed';
  }
}

const FILE_SYSTEM_PROBLEMS: Partial<Record<ErrorCode, string>> = {
  disk_full: 'the disk is full',
  read_only_file_system: 'the file system is read-only',
  permission_denied: 'permission denied',
};

/** A coded error for a failed file operation on `path`, saying what went wrong in words. */
export function fileSystemError(thrown: unknown, doing: string, path: string): McpPolicyError {
  if (thrown instanceof McpPolicyError) return thrown;
  const code = fileSystemCode(thrown);
  const problem = FILE_SYSTEM_PROBLEMS[code] ?? describeThrown(thrown);
  return new McpPolicyError(code, `cannot ${doing} ${JSON.stringify(path)}: ${problem}`, { cause: thrown });
}
