/**
 * Stage 3: Rego emission. Prints a lowered policy as a Rego v1 module that is
 * `opa fmt`-clean and `opa check --strict`-clean, byte for byte the same for
 * the same policy. Every user string goes through {@link regoString}.
 *
 * Shape of the output: `decide(req)` answers one request: a malformed request
 * gets an error decision, otherwise `first_match` walks groups of rules in
 * order. Each group is one `else` chain, so at most one branch of it yields a
 * value and first-match cannot conflict; the groups are chained the same way.
 */
import { type Condition, type LoweredPolicy, type LoweredRule, type Pattern } from '../lower.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
import { INVALID_REQUEST_REASON, LIB_PACKAGE, POLICY_PACKAGE, type Provenance } from '../contracts.js';
import { regoString } from './strings.js';

export {
  BATCH_ENTRYPOINT,
  CONFIG_ENTRYPOINT,
  DECISION_ENTRYPOINT,
  LIB_PACKAGE,
  POLICY_PACKAGE,
  type Provenance,
} from '../contracts.js';

function decisionLiteral(allowed: boolean, reason: string, rule: number | null): string {
  return `{"allowed": ${allowed}, "reason": ${regoString(reason)}, "rule": ${rule === null ? 'null' : rule}}`;
}

/** Statements that hold when `x` matches `p`, given that `x` is a non-empty string if defined. */
function patternStatements(x: string, p: Pattern, multi: ReadonlyMap<string, number>): string[] {
  if (p.kind === 'literal') return [`${x} == ${regoString(p.text)}`];
  if (p.middles.length > 0) return [`wildcard_${multi.get(p.text)}(${x})`];
  if (p.prefix === '' && p.suffix === '') return [`is_string(${x})`];
  if (p.suffix === '') return [`startswith(${x}, ${regoString(p.prefix)})`];
  if (p.prefix === '') return [`endswith(${x}, ${regoString(p.suffix)})`];
  return [`lib.wrapped(${x}, ${regoString(p.prefix)}, ${regoString(p.suffix)})`];
}

function conditionStatements(rule: LoweredRule, c: Condition, multi: ReadonlyMap<string, number>): string[] {
  switch (c.kind) {
    case 'equals':
      return [`r.${c.field} == ${regoString(c.value)}`];
    case 'server':
      return patternStatements('r.server', c.pattern, multi);
    case 'source':
      if (c.pattern.kind === 'literal') return [`${regoString(c.pattern.text)} in r.sources`];
      return ['some source in r.sources', ...patternStatements('source', c.pattern, multi)];
    case 'tools':
      if (c.patterns.every((p) => p.kind === 'literal')) {
        return [`r.tool in {${c.patterns.map((p) => regoString(p.text)).join(', ')}}`];
      }
      return [`tool_${rule.index}(r.tool)`];
  }
}

/** Helper functions a rule needs: an any-of function for a `tools` list with wildcards. */
function ruleHelpers(rule: LoweredRule, multi: ReadonlyMap<string, number>): string[] {
  const out: string[] = [];
  for (const c of rule.conditions) {
    if (c.kind !== 'tools' || c.patterns.every((p) => p.kind === 'literal')) continue;
    const literals = c.patterns.filter((p) => p.kind === 'literal');
    const bodies: string[][] = [];
    if (literals.length > 0) bodies.push([`x in {${literals.map((p) => regoString(p.text)).join(', ')}}`]);
    const seen = new Set<string>();
    for (const p of c.patterns) {
      if (p.kind === 'literal' || seen.has(p.text)) continue;
      seen.add(p.text);
      bodies.push(patternStatements('x', p, multi));
    }
    out.push(`# tools of rule ${rule.index}`);
    for (const body of bodies) out.push(`tool_${rule.index}(x) if {\n${indent(body)}\n}\n`);
  }
  return out;
}

function multiWildcardFunction(p: Pattern, id: number): string {
  if (p.kind !== 'wildcard') throw new Error('unreachable: literal pattern has no helper');
  const lines: string[] = [];
  let current = 'x';
  if (p.prefix !== '' || p.suffix !== '') {
    lines.push(`m0 := lib.between(x, ${regoString(p.prefix)}, ${regoString(p.suffix)})`);
    current = 'm0';
  }
  p.middles.forEach((piece, k) => {
    if (k === p.middles.length - 1) {
      lines.push(`contains(${current}, ${regoString(piece)})`);
    } else {
      lines.push(`m${k + 1} := lib.after(${current}, ${regoString(piece)})`);
      current = `m${k + 1}`;
    }
  });
  return `# pattern ${regoString(p.text)}\nwildcard_${id}(x) if {\n${indent(lines)}\n}\n`;
}

/** A JSON value as a Rego term, on one line, every string escaped. */
export function regoValue(v: unknown): string {
  if (v === null || typeof v === 'boolean' || typeof v === 'number') return JSON.stringify(v);
  if (typeof v === 'string') return regoString(v);
  if (Array.isArray(v)) return `[${v.map(regoValue).join(', ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    return entries.length === 0 ? '{}' : `{${entries.map(([k, x]) => `${regoString(k)}: ${regoValue(x)}`).join(', ')}}`;
  }
  throw new TypeError(`not a JSON value: ${typeof v}`);
}

function enterpriseSection(config: EnterpriseConfig, provenance: Provenance | undefined): string {
  const dm = config.degradedMode;
  const degraded: Record<string, unknown> = {};
  if (dm) {
    degraded.policy = dm.policy;
    if (dm.gracePeriod !== undefined) degraded.grace_period = dm.gracePeriod;
    if (dm.gracePeriodSeconds !== undefined) degraded.grace_seconds = dm.gracePeriodSeconds;
    if (dm.message !== undefined) degraded.message = dm.message;
  }
  const directives = Object.fromEntries(
    Object.entries(config.directives).map(([k, d]) => [k, { value: d.value, enforcement: d.enforcement }]),
  );
  const config_ = provenance
    ? `config := object.union(lib.effective_config(directives, degraded, local), {"policy": provenance})`
    : 'config := lib.effective_config(directives, degraded, local)';
  return [
    '# directives are the enterprise directives, as validated.',
    `directives := ${regoValue(directives)}\n`,
    '# degraded is how clients behave while the Enterprise Manager is unreachable.',
    `degraded := ${regoValue(degraded)}\n`,
    ...(provenance
      ? ['# provenance says which policy source is in force, and why.', `provenance := ${regoValue(provenance)}\n`]
      : []),
    '# config is the configuration in force for the local settings in input.local, and why.',
    config_,
    '',
    'local := object.get(input, "local", {})\n',
    'request_error(req) := err if {',
    '\terr := lib.request_error(req)',
    '} else := err if {',
    '\terr := lib.enterprise_request_error(req)',
    '}\n',
  ].join('\n');
}

function indent(lines: readonly string[]): string {
  return lines.map((l) => `\t${l}`).join('\n');
}

function ruleComment(rule: LoweredRule): string {
  const verdict = rule.allowed ? 'allow' : 'deny';
  return `# rule ${rule.index}: ${verdict}${rule.comment === undefined ? '' : `: ${regoString(rule.comment)}`}`;
}

function groupFunction(group: readonly LoweredRule[], g: number, multi: ReadonlyMap<string, number>): string {
  const first = group[0]?.index ?? 0;
  const last = group[group.length - 1]?.index ?? 0;
  // Strict mode rejects an unused argument: a group of rules without conditions does not look at the request.
  const param = group.some((rule) => rule.conditions.length > 0) ? 'r' : '_';
  const parts: string[] = [`# group_${g} is the decision of the first of rules ${first} to ${last} that matches.`];
  group.forEach((rule, k) => {
    const head = k === 0 ? `group_${g}(${param}) := ` : 'else := ';
    const value = decisionLiteral(rule.allowed, rule.reason, rule.index);
    const body = rule.conditions.flatMap((c) => conditionStatements(rule, c, multi));
    // A rule without conditions matches everything; only the last branch of a chain may go without a body.
    if (body.length === 0 && k < group.length - 1) body.push('true');
    const branch = body.length === 0 ? `${head}${value}` : `${head}${value} if {\n${indent(body)}\n}`;
    parts.push(k === 0 ? `${ruleComment(rule)}\n${branch}` : `\n${ruleComment(rule)}\n${branch}`);
  });
  return `${parts.join('\n')}\n`;
}

/** Options for {@link emitRego}. */
export interface EmitOptions {
  /** A line of provenance for the header comment (kept out of the output when absent). */
  readonly header?: string;
  /** Enterprise directives to enforce before the rules, and to answer `config` from. */
  readonly enterprise?: EnterpriseConfig;
  /** Which policy source is in force and why, recorded in the bundle as `provenance`. */
  readonly provenance?: Provenance;
  /**
   * Package of the module; {@link POLICY_PACKAGE} unless several policies
   * share one bundle (as the differential tester does).
   */
  readonly packageName?: string;
}

/** Prints the Rego module for a lowered policy. */
export function emitRego(lowered: LoweredPolicy, options: EmitOptions = {}): string {
  const multi = new Map(lowered.multiWildcards.map((p, k) => [p.text, k]));
  const d = lowered.defaultDecision;
  const sections: string[] = [];

  sections.push(
    [
      '# Code generated by mcp-policy. DO NOT EDIT.',
      ...(options.header === undefined ? [] : [`# ${regoString(options.header)}`]),
      `package ${options.packageName ?? POLICY_PACKAGE}\n`,
      `import data.${LIB_PACKAGE}\n`,
    ].join('\n'),
  );

  sections.push(
    [
      '# decision answers one request; input is the request.',
      'decision := decide(input)\n',
      '# decisions answers a batch; input is {"requests": [...]}, answers are in request order.',
      'decisions := [decide(req) | some req in input.requests] if {',
      '\tis_array(input.requests)',
      '}\n',
      'decide(req) := d if {',
      `\terr := ${options.enterprise ? 'request_error' : 'lib.request_error'}(req)`,
      `\td := {"allowed": false, "reason": ${regoString(INVALID_REQUEST_REASON)}, "rule": null, "error": err}`,
      ...(options.enterprise
        ? [
            '} else := lib.warned(d, lib.degraded_warning(degraded, req)) if {',
            '\td := lib.directive_denial(directives, degraded, req)',
            '} else := lib.warned(first_match(lib.facts(req)), lib.degraded_warning(degraded, req))\n',
          ]
        : ['} else := first_match(lib.facts(req))\n']),
    ].join('\n'),
  );
  if (options.enterprise) sections.push(enterpriseSection(options.enterprise, options.provenance));

  const chain: string[] = ['# first_match is the decision of the first rule that matches, else the default.'];
  lowered.groups.forEach((_, g) => {
    chain.push(`${g === 0 ? 'first_match(r) := d if {' : '} else := d if {'}\n\td := group_${g}(r)`);
  });
  const defaultValue = decisionLiteral(d.allowed, d.reason, null);
  chain.push(lowered.groups.length === 0 ? `first_match(_) := ${defaultValue}\n` : `} else := ${defaultValue}\n`);
  sections.push(chain.join('\n'));

  lowered.groups.forEach((group, g) => {
    sections.push(groupFunction(group, g, multi));
    for (const rule of group) sections.push(...ruleHelpers(rule, multi));
  });
  lowered.multiWildcards.forEach((p, k) => sections.push(multiWildcardFunction(p, k)));

  return `${sections.join('\n').trimEnd()}\n`;
}
