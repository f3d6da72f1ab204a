/**
 * The table-driven case format shared by `mcp-policy test`, the examples and
 * the project's own test suite:
 *
 * ```json
 * {
 *   "note": "what this table shows",
 *   "policy": { ... } | "policyText": "raw text",   // optional when the policy is given separately
 *   "requests": [{ "note": "...", "request": { ... }, "expect": { "allowed": false, "rule": 0 } }],
 *   "errors": [{ "code": "unknown_field", "path": "/rules/0/serverTyp" }]
 * }
 * ```
 *
 * `expect.rule` and `expect.reason` are checked when given; `expect.error`
 * true means the decision must carry an error, and absent or false that it
 * must not. `errors` lists the validation errors the policy must produce (in
 * any order, all of them), and then there are no requests.
 *
 * Enterprise tables add `enterprise` (the config as written, in any of its
 * shapes) or `enterpriseText` (YAML), and may list `configs`: local settings
 * and the effective entries (`directives`, `rejected`) expected for them.
 * With `enterpriseText` and `errors`, the errors are the config's.
 *
 * `warnings`, when given, lists every validation warning the policy and the
 * enterprise config must produce (in any order, all of them, and no others).
 */
import { basename } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { type CompileExtras, type EmbeddedCases, SCHEMA_KEY, SELF_TEST_ROOT } from '../core/contracts.js';
import { type Engine, type EngineName } from '../engines/engine.js';
import { goWasmLimitation, isGoWasmLimitation } from '../engines/opa.js';
import { openEngine } from '../engines/open.js';
import { parseEnterpriseConfig } from '../enterprise/validate.js';
import { ERROR_CODES, type Issue, McpPolicyError } from '../core/errors.js';
import { suggest } from '../diagnostics/report.js';
import { readTextFile } from '../policy/file.js';
import { type Decision, type Policy } from '../policy/model.js';
import { type Validation } from '../core/validation.js';
import { parsePolicy } from '../policy/validate.js';

const expectSchema = z.strictObject({
  allowed: z.boolean(),
  rule: z.number().int().nonnegative().nullable().optional(),
  reason: z.string().optional(),
  error: z.boolean().optional(),
  directive: z.string().nullable().optional(),
  warning: z.string().nullable().optional(),
});

const caseSchema = z.strictObject({
  note: z.string().optional(),
  request: z.unknown(),
  expect: expectSchema,
});

const issueSchema = z.strictObject({
  code: z.enum(ERROR_CODES),
  path: z.string(),
  within: z.string().optional(),
});

/** The shape of a case table; the editors' JSON Schema is made from it. */
export const caseFileSchema = z
  .strictObject({
    [SCHEMA_KEY]: z.string().optional(),
    note: z.string().optional(),
    policy: z.unknown().optional(),
    policyText: z.string().optional(),
    enterprise: z.unknown().optional(),
    enterpriseText: z.string().optional(),
    configs: z
      .array(
        z.strictObject({
          note: z.string().optional(),
          local: z.record(z.string(), z.unknown()).optional(),
          expect: z.strictObject({
            directives: z.record(z.string(), z.strictObject({ value: z.unknown(), source: z.string() })).optional(),
            rejected: z.array(z.strictObject({ key: z.string(), local: z.unknown(), value: z.unknown() })).optional(),
          }),
        }),
      )
      .optional(),
    requests: z.array(caseSchema).optional(),
    errors: z.array(issueSchema).optional(),
    warnings: z.array(issueSchema).optional(),
  })
  .refine((f) => !(f.policy !== undefined && f.policyText !== undefined), {
    message: 'give "policy" or "policyText", not both',
  })
  .refine((f) => !(f.errors !== undefined && f.requests !== undefined), {
    message: 'a table expects either validation "errors" or "requests" decisions, not both',
  });

/** An expected decision. */
export type Expectation = z.infer<typeof expectSchema>;
/** One request and what must be decided for it. */
export type RequestCase = z.infer<typeof caseSchema>;
/** A whole case table. */
export type CaseFile = z.infer<typeof caseFileSchema>;

/** Parses a case table; throws `invalid_cases` naming the first problem. */
export function parseCaseFile(text: string, file = 'cases'): CaseFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new McpPolicyError('invalid_cases', `${file}: invalid JSON: ${(e as Error).message}`);
  }
  const parsed = caseFileSchema.safeParse(value);
  if (!parsed.success) {
    // A misspelt key is the likeliest cause of every other complaint (a missing "expect"), so it is reported first.
    const issue = parsed.error.issues.find((i) => i.code === 'unrecognized_keys') ?? parsed.error.issues[0];
    const pointer = (path: readonly PropertyKey[]): string =>
      path.map((p) => `/${String(p).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
    if (issue?.code === 'unrecognized_keys') {
      const key = issue.keys[0]!;
      const known = knownKeysAt(caseFileSchema, issue.path);
      const close = suggest(key, known);
      const hint =
        close !== undefined ? `did you mean "${close}"?` : `expected one of ${known.map((k) => `"${k}"`).join(', ')}`;
      throw new McpPolicyError(
        'invalid_cases',
        `${file}: ${pointer([...issue.path, key])}: unknown field ${JSON.stringify(key)}; ${hint}`,
      );
    }
    const path = issue ? pointer(issue.path) : '';
    throw new McpPolicyError('invalid_cases', `${file}: ${path || '/'}: ${issue?.message.toLowerCase() ?? 'invalid'}`);
  }
  return parsed.data;
}

/** The keys the table's schema allows in the object at `path`. */
function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const unwrap = (s: z.ZodType | undefined): z.ZodType | undefined =>
    s instanceof z.ZodOptional || s instanceof z.ZodNullable ? unwrap(s.unwrap() as z.ZodType) : s;
  let at: z.ZodType | undefined = schema;
  for (const p of path) {
    at = unwrap(at);
    if (at instanceof z.ZodArray) at = at.element as z.ZodType;
    else if (at instanceof z.ZodRecord) at = at.valueType as z.ZodType;
    else if (at instanceof z.ZodObject) at = (at.shape as Record<string, z.ZodType>)[String(p)];
    else return [];
  }
  at = unwrap(at);
  return at instanceof z.ZodObject ? Object.keys(at.shape as Record<string, z.ZodType>) : [];
}

/** The policy text a case table carries, if any. */
export function casePolicyText(file: CaseFile): string | undefined {
  if (file.policyText !== undefined) return file.policyText;
  if (file.policy !== undefined) return JSON.stringify(file.policy);
  return undefined;
}

/** The enterprise config text a case table carries, if any. */
export function caseEnterpriseText(file: CaseFile): string | undefined {
  if (file.enterpriseText !== undefined) return file.enterpriseText;
  if (file.enterprise !== undefined) return JSON.stringify(file.enterprise);
  return undefined;
}

/** Differences between an effective configuration and what a table expects of it. */
export function checkConfig(
  config: unknown,
  expect: { directives?: Record<string, { value: unknown; source: string }>; rejected?: unknown[] },
): string[] {
  const c = (config ?? {}) as { directives?: Record<string, unknown>; rejected?: unknown };
  const problems: string[] = [];
  for (const [key, entry] of Object.entries(expect.directives ?? {})) {
    const got = c.directives?.[key];
    if (!isDeepStrictEqual(got, entry))
      problems.push(`${key} is ${JSON.stringify(got)}, expected ${JSON.stringify(entry)}`);
  }
  if (expect.rejected !== undefined && !isDeepStrictEqual(c.rejected, expect.rejected)) {
    problems.push(`rejected is ${JSON.stringify(c.rejected)}, expected ${JSON.stringify(expect.rejected)}`);
  }
  return problems;
}

/** Differences between a decision and its expectation; empty when it meets it. */
export function checkDecision(decision: Decision, expect: Expectation): string[] {
  const problems: string[] = [];
  if (decision.allowed !== expect.allowed) problems.push(`allowed is ${decision.allowed}, expected ${expect.allowed}`);
  if (expect.rule !== undefined && decision.rule !== expect.rule) {
    problems.push(`rule is ${decision.rule}, expected ${expect.rule}`);
  }
  if (expect.reason !== undefined && decision.reason !== expect.reason) {
    problems.push(`reason is ${JSON.stringify(decision.reason)}, expected ${JSON.stringify(expect.reason)}`);
  }
  for (const key of ['directive', 'warning'] as const) {
    const want = expect[key];
    if (want !== undefined && (decision[key] ?? null) !== want) {
      problems.push(`${key} is ${JSON.stringify(decision[key] ?? null)}, expected ${JSON.stringify(want)}`);
    }
  }
  const hasError = decision.error !== undefined;
  if (hasError !== (expect.error ?? false)) {
    problems.push(hasError ? `unexpected error ${JSON.stringify(decision.error)}` : 'expected an error, got none');
  }
  return problems;
}

export { type EmbeddedCases } from '../core/contracts.js';

/**
 * The part of a case table a bundle can carry: its request cases. A table
 * with its own policy or expected validation errors tests something else,
 * so it is refused (`invalid_cases`).
 */
export function embeddableCases(file: CaseFile, name: string): EmbeddedCases {
  if (file.policy !== undefined || file.policyText !== undefined || file.errors !== undefined) {
    throw new McpPolicyError(
      'invalid_cases',
      `${name}: a self-test table holds only "requests" for the compiled policy, not its own policy or errors`,
    );
  }
  return { name, requests: file.requests ?? [] };
}

/** The case tables embedded in a bundle's data, or none. */
export function embeddedCases(data: unknown): EmbeddedCases[] {
  const root = (data as Record<string, unknown> | null)?.[SELF_TEST_ROOT] as { tables?: unknown } | undefined;
  return Array.isArray(root?.tables) ? (root.tables as EmbeddedCases[]) : [];
}

/** Reads case tables for embedding (`compile --cases`), each named by its file's base name. */
export async function readEmbeddableCases(files: readonly string[]): Promise<EmbeddedCases[]> {
  const out: EmbeddedCases[] = [];
  for (const file of files) {
    const name = basename(file);
    out.push(embeddableCases(parseCaseFile(await readTextFile(file), name), name));
  }
  return out;
}

/**
 * One way a table was not met: where in the table (a JSON pointer), what
 * differed, and for a request or configuration what was expected and what
 * came back. Engines that answered alike share one failure.
 */
export interface CaseFailure {
  readonly where: string;
  /** The engines that gave this answer; absent for the table's expected errors and warnings. */
  readonly engines?: readonly EngineName[];
  readonly note?: string;
  readonly problems: readonly string[];
  /** The table's `expect` for this request or configuration. */
  readonly expected?: unknown;
  /** What the engines answered: the decision, or the effective configuration. */
  readonly actual?: unknown;
}

/** Which of a table's sources is invalid, with its validation. */
export interface InvalidSource extends Validation<never> {
  readonly source: 'policy' | 'enterprise';
}

/** The outcome of running a case table. */
export interface CaseTableResult {
  readonly failures: readonly CaseFailure[];
  /** Decisions not checked because they report go-wasm's documented limitation on that request. */
  readonly skipped: number;
  /** Set when a table that expects decisions has an invalid policy or enterprise config: nothing was decided. */
  readonly invalid?: InvalidSource;
  /** One line: what was checked and how many failures. */
  readonly summary: string;
}

/** How {@link runCaseTable} runs. */
export interface CaseTableOptions {
  /** The engines to decide on. */
  readonly engines: readonly EngineName[];
  /** Policy text for tables that carry none. */
  readonly policyText?: string;
  /**
   * Also require every engine to answer exactly as the first one does,
   * field for field (decisions and configurations), beyond what the table
   * states.
   */
  readonly agree?: boolean;
  /** Opens an engine; {@link openEngine} unless a caller shares compiled bundles. */
  readonly open?: (name: EngineName, policy: Policy, extras: CompileExtras) => Promise<Engine>;
  /**
   * Opens the engines of a compiled bundle, for a table that carries no
   * policy and is given no `policyText`: the requests are decided by it.
   */
  readonly compiled?: (name: EngineName) => Promise<Engine>;
}

type IssueKey = Pick<Issue, 'code' | 'path' | 'within'>;

/** Expected issues that were not found and found ones that were not expected, by code, path and `within`. */
function compareIssues(kind: string, expected: readonly IssueKey[], found: readonly Issue[]): string[] {
  const key = (i: IssueKey): string => `${i.code} ${i.within ?? ''}${i.path}`;
  const want = new Set(expected.map(key));
  const got = new Set(found.map(key));
  const at = (i: IssueKey): string => `${i.within !== undefined ? `${i.within}: ` : ''}${i.path || '/'}`;
  return [
    ...expected.filter((i) => !got.has(key(i))).map((i) => `expected ${kind} ${i.code} at ${at(i)}`),
    ...found.filter((i) => !want.has(key(i))).map((i) => `unexpected ${kind} ${i.code} at ${at(i)}: ${i.message}`),
  ];
}

/**
 * Runs a case table: its expected validation errors and warnings, or its
 * requests and effective configurations on each engine. The one runner
 * behind `mcp-policy test` and the project's own tables.
 */
export async function runCaseTable(table: CaseFile, options: CaseTableOptions): Promise<CaseTableResult> {
  const open = options.open ?? openEngine;
  const text = casePolicyText(table) ?? options.policyText;
  const enterpriseText = caseEnterpriseText(table);
  const enterprise = enterpriseText === undefined ? undefined : parseEnterpriseConfig(enterpriseText);
  const policy = text === undefined ? undefined : parsePolicy(text);
  const failures: CaseFailure[] = [];
  const problem = (where: string, problems: readonly string[]): void => {
    for (const p of problems) failures.push({ where, problems: [p] });
  };

  if (table.warnings !== undefined) {
    problem(
      '/warnings',
      compareIssues('warning', table.warnings, [...(policy?.warnings ?? []), ...(enterprise?.warnings ?? [])]),
    );
  }
  if (table.errors !== undefined) {
    // With an enterprise config, the expected errors are the config's.
    const found = enterprise ? enterprise.errors : (policy?.errors ?? []);
    problem('/errors', compareIssues('error', table.errors, found));
    if (!enterprise && policy === undefined) problem('/errors', ['the table has no policy to validate']);
    return {
      failures,
      skipped: 0,
      summary: `test: ${table.errors.length} expected errors, ${failures.length} failures`,
    };
  }
  if (policy?.value === undefined && (text !== undefined || options.compiled === undefined)) {
    return {
      failures,
      skipped: 0,
      invalid: { source: 'policy', value: undefined, errors: policy?.errors ?? [], warnings: policy?.warnings ?? [] },
      summary: 'test: the policy is invalid',
    };
  }
  if (enterprise && !enterprise.value) {
    return {
      failures,
      skipped: 0,
      invalid: { source: 'enterprise', ...enterprise, value: undefined },
      summary: 'test: the enterprise config is invalid',
    };
  }
  const extras: CompileExtras = enterprise?.value ? { enterprise: enterprise.value } : {};
  const cases = table.requests ?? [];
  const configs = table.configs ?? [];
  let skipped = 0;
  let first: { name: EngineName; decisions: Decision[]; configs: unknown[] } | undefined;
  // Engines that fail a case the same way, with the same answer, are one failure naming them all.
  const alike = new Map<string, EngineName[]>();
  const fail = (
    where: string,
    name: EngineName,
    c: { note?: string | undefined; expect: unknown },
    problems: string[],
    actual: unknown,
  ): void => {
    if (problems.length === 0) return;
    const key = JSON.stringify([where, problems, actual]);
    const engines = alike.get(key);
    if (engines !== undefined) {
      engines.push(name);
      return;
    }
    const names = [name];
    alike.set(key, names);
    const note = c.note;
    failures.push({ where, engines: names, ...(note !== undefined && { note }), problems, expected: c.expect, actual });
  };
  for (const name of options.engines) {
    const engine =
      policy?.value !== undefined ? await open(name, policy.value.policy, extras) : await options.compiled!(name);
    try {
      const decisions = await engine.decideBatch(cases.map((c) => c.request));
      cases.forEach((c, k) => {
        const decision = decisions[k] as Decision;
        if (name === 'go-wasm' && isGoWasmLimitation(decision)) {
          if (decision.allowed === false && goWasmCannotRead(c.request)) {
            skipped++;
            return;
          }
          fail(`/requests/${k}`, name, c, [`unexplained go-wasm limitation: ${decision.error ?? ''}`], decision);
          return;
        }
        const problems = checkDecision(decision, c.expect);
        const ref = options.agree ? first?.decisions[k] : undefined;
        if (ref !== undefined && !isDeepStrictEqual(decision, ref) && !isGoWasmLimitation(ref)) {
          problems.push(`differs from ${first!.name}: ${JSON.stringify(decision)} vs ${JSON.stringify(ref)}`);
        }
        fail(`/requests/${k}`, name, c, problems, decision);
      });
      const answers: unknown[] = [];
      for (const [k, c] of configs.entries()) {
        const config = await engine.config(c.local ?? {});
        answers.push(config);
        const problems = checkConfig(config, c.expect);
        if (options.agree && first !== undefined && !isDeepStrictEqual(config, first.configs[k])) {
          problems.push(`differs from ${first.name}: ${JSON.stringify(config)} vs ${JSON.stringify(first.configs[k])}`);
        }
        fail(`/configs/${k}`, name, c, problems, config);
      }
      first ??= { name, decisions, configs: answers };
    } finally {
      await engine.close();
    }
  }
  const skips = skipped > 0 ? `, ${skipped} skipped (go-wasm cannot read them)` : '';
  return {
    failures,
    skipped,
    summary: `test: ${cases.length} cases on ${options.engines.join(', ')}, ${failures.length} failures${skips}`,
  };
}

/**
 * Whether go-wasm's documented limitation explains a request: a character
 * it is known to mangle, or an astral character, which Go's Unicode tables
 * (older than this runtime's) may not count as printable.
 */
function goWasmCannotRead(request: unknown): boolean {
  return goWasmLimitation(request) !== undefined || /[\u{10000}-\u{10FFFF}]/u.test(JSON.stringify(request) ?? '');
}
