/**
 * Typed errors. Every failure the library reports carries a stable `code`
 * (for programs) and a lowercase message that quotes user input (for people);
 * policy problems also carry a JSON pointer so editors and CI can point at the
 * exact spot.
 */

/** A problem found in a policy or request document, located by JSON pointer. */
export interface Issue {
  /** Stable machine-readable code, e.g. `unknown_field`. */
  readonly code: string;
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
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
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

  constructor(code: string, message: string, options?: { cause?: unknown; stderr?: string }) {
    super(code, message, options);
    this.name = 'OpaError';
    this.stderr = options?.stderr;
  }
}

/** Thrown when a WebAssembly policy cannot be loaded or evaluated. */
export class WasmError extends McpPolicyError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
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
export function fileSystemCode(thrown: unknown): string {
  switch ((thrown as NodeJS.ErrnoException | undefined)?.code) {
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

const FILE_SYSTEM_PROBLEMS: Record<string, string> = {
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
