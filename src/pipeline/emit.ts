/**
 * Stage 3: Rego emission. Prints the module around a lowered policy: the
 * entry points, request checking and, with enterprise directives, the
 * directive checks. The rules, their index and the directives are data
 * (`data.json`, see lower.ts), so the module is the same for every policy but
 * for its package and the enterprise section; it is `opa fmt`-clean,
 * `opa check --strict`-clean and byte for byte the same for the same input.
 * Every user string that is printed goes through {@link regoString}.
 */
import { INVALID_REQUEST_REASON, LIB_PACKAGE, POLICY_PACKAGE } from '../core/contracts.js';
import { type LoweredData, type LoweredPolicy, type StepsV2Json } from './lower.js';
import { regoString } from './rego-strings.js';

export {
  BATCH_ENTRYPOINT,
  CONFIG_ENTRYPOINT,
  DECISION_ENTRYPOINT,
  LIB_PACKAGE,
  POLICY_PACKAGE,
  type Provenance,
} from '../core/contracts.js';

/** Package of the static helpers of version 2 policies, rego/mcp_policy/v2.rego. */
export const V2_PACKAGE = 'mcp_policy.v2';

/** Package of the n-gram helpers, rego/mcp_policy/ngram.rego, in the bundles of policies whose index uses them. */
export const NGRAM_PACKAGE = 'mcp_policy.ngram';

/** True when a lowered policy's index files rules under n-grams: its module imports ngram.rego. */
export function usesNgrams(data: LoweredData): boolean {
  return data.index.ngramLengths !== undefined && Object.keys(data.index.ngramLengths).length > 0;
}

/** Where a package's lowered data lives in `data`. */
export function loweredDataPath(packageName: string = POLICY_PACKAGE): string {
  return `data.${packageName}.lowered`;
}

/**
 * The bundle's `data.json` for lowered policies, keyed by package: the data
 * of each lands at {@link loweredDataPath} of its package.
 */
export function bundleData(entries: readonly { packageName: string; data: LoweredData }[]): unknown {
  const root: Record<string, unknown> = {};
  for (const { packageName, data } of entries) {
    let node = root;
    for (const part of packageName.split('.')) node = (node[part] ??= {}) as Record<string, unknown>;
    node.lowered = data;
  }
  return root;
}

function enterpriseSection(lowered: string, provenance: boolean): string {
  const config_ = provenance
    ? `config := object.union(lib.effective_config(directives, degraded, local), {"policy": ${lowered}.provenance})`
    : 'config := lib.effective_config(directives, degraded, local)';
  return [
    '# directives are the enterprise directives, as validated.',
    `directives := ${lowered}.directives\n`,
    '# degraded is how clients behave while the Enterprise Manager is unreachable.',
    `degraded := ${lowered}.degraded\n`,
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

/**
 * First match through the rule index. Every read of the data names its path
 * with the keys known at that point, so OPA's interpreter reads one rule or
 * one index entry from its store instead of converting the whole policy on
 * every evaluation; in WebAssembly the data is in memory either way.
 */
function matchSection(d: string, fields?: IndexFields, ngramFields?: readonly string[]): string {
  const text = [
    '# first_match is the decision of the lowest-numbered rule whose conditions all',
    '# hold for facts r, else the default. Only the rules the index lists for r',
    '# (and those it cannot narrow) are checked, so the cost does not grow with the policy.',
    `first_match(r) := json.unmarshal(${d}.decisions[min(hits)]) if {`,
    '	hits := {i |',
    '		some i in candidates(r)',
    `		every c in lib.conditions(${d}.rules[i]) {`,
    '			lib.holds(c, r)',
    '		}',
    '	}',
    '	count(hits) > 0',
    `} else := ${d}["default"]\n`,
    '# candidates(r) is every rule r could match, and some it cannot.',
    'candidates(r) := ((equal_hits(r) | prefix_hits(r)) | suffix_hits(r)) | always\n',
    `always := {i | some i in ${d}.index.always}\n`,
    'equal_hits(r) := {i |',
    '	some f in lib.index_fields',
    '	some v in lib.field_values(r, f)',
    `	some i in ${d}.index.equals[f][v]`,
    '}\n',
    'prefix_hits(r) := {i |',
    '	some f in lib.affix_fields',
    '	some v in lib.field_values(r, f)',
    `	some k, n in ${d}.index.prefixLengths[f]`,
    `	some i in ${d}.index.prefix[f][k][substring(v, 0, n)]`,
    '}\n',
    'suffix_hits(r) := {i |',
    '	some f in lib.affix_fields',
    '	some v in lib.field_values(r, f)',
    `	some k, n in ${d}.index.suffixLengths[f]`,
    `	some i in ${d}.index.suffix[f][k][lib.suffix_of(v, n)]`,
    '}\n',
  ].join('\n');
  if (ngramFields !== undefined) return ngramSection(matchSection(d, fields), d, ngramFields);
  if (fields === undefined) return text;
  // A version 2 rule holds its version 1 and version 2 conditions apart (see RuleV2Json), each list for its own
  // module; and a version 2 module looks a request up only under the fields its policy's index has entries for.
  return [
    text
      .slice(0, text.indexOf('equal_hits(r) := {i |'))
      .replace(
        `\t\tevery c in lib.conditions(${d}.rules[i]) {\n\t\t\tlib.holds(c, r)\n\t\t}`,
        [
          `\t\tw := lib.conditions(${d}.rules[i])`,
          '\t\tevery c in w[0] {\n\t\t\tlib.holds(c, r)\n\t\t}',
          '\t\tevery c in w[1] {\n\t\t\tv2.holds(c, r)\n\t\t}',
        ].join('\n'),
      )
      .trimEnd(),
    '',
    hitsSection(d, fields),
    '# The fields the index has exact, prefix and suffix entries for.',
    `index_fields := ${regoList(fields.equals)}\n`,
    `prefix_fields := ${regoList(fields.prefix)}\n`,
    `suffix_fields := ${regoList(fields.suffix)}\n`,
  ].join('\n');
}

/**
 * The match section of a policy whose index files rules under n-grams: the
 * candidates also hold the rules filed under any n-gram of a request's value,
 * each tier's n-grams cut once from the value by ngram.rego, or every rule
 * filed under the field's n-grams when the value is too long for that to be
 * worth it. Written out field by field, like a version 2 module's other lookups.
 */
function ngramSection(section: string, d: string, fields: readonly string[]): string {
  const before = 'candidates(r) := ((equal_hits(r) | prefix_hits(r)) | suffix_hits(r)) | always';
  const after = 'candidates(r) := (((equal_hits(r) | prefix_hits(r)) | suffix_hits(r)) | ngram_hits(r)) | always';
  const terms = fields.flatMap((f) => {
    const worth = `ngram.worth(v, ${d}.index.ngramRules${member(f)})`;
    return [
      [
        '{i |',
        ...valuesOf(f),
        `\t${worth}`,
        `\tsome k, n in ${d}.index.ngramLengths${member(f)}`,
        '\tsome g in ngram.grams(v, n)',
        `\tsome i in ${d}.index.ngram${member(f)}[k][g]`,
        '}',
      ],
      [
        '{i |',
        ...valuesOf(f),
        `\tnot ${worth}`,
        `\tsome tier in ${d}.index.ngram${member(f)}`,
        '\tsome rules in tier',
        '\tsome i in rules',
        '}',
      ],
    ].map((lines) => lines.join('\n'));
  });
  const union = terms.slice(1).reduce((left, t, k) => `${k === 0 ? left : `(${left})`} | ${t}`, terms[0]!);
  // A silent no-op here would leave rules filed only under n-grams out of every candidate set: fail the build.
  if (!section.includes(before)) throw new Error('the match section has no candidates rule to extend with n-grams');
  return [section.replace(before, after).trimEnd(), '', `ngram_hits(r) := ${union}\n`].join('\n');
}

/**
 * A version 2 module's index lookups, written out field by field: each
 * field's values are read straight from the facts (as v2.field_values
 * gives them) and its entries by a path known when the module is printed,
 * instead of a loop over the field lists calling v2.field_values. About 4 us
 * of a wasm decision on the bench policies, where the loop and the call cost
 * more than the lookups.
 */
function hitsSection(d: string, fields: IndexFields): string {
  return [
    hits('equal_hits', fields.equals, (f) => [`\tsome i in ${d}.index.equals${member(f)}[v]`]),
    hits('prefix_hits', fields.prefix, (f) => [
      `\tsome k, n in ${d}.index.prefixLengths${member(f)}`,
      `\tsome i in ${d}.index.prefix${member(f)}[k][substring(v, 0, n)]`,
    ]),
    hits('suffix_hits', fields.suffix, (f) => [
      `\tsome k, n in ${d}.index.suffixLengths${member(f)}`,
      `\tsome i in ${d}.index.suffix${member(f)}[k][lib.suffix_of(v, n)]`,
    ]),
  ].join('\n');
}

/** A hits function: the union of one comprehension per field, grouped from the left as `opa fmt` prints it. */
function hits(name: string, fields: readonly string[], lookup: (f: string) => string[]): string {
  if (fields.length === 0) return `${name}(_) := set()\n`;
  const terms = fields.map((f) => ['{i |', ...valuesOf(f), ...lookup(f), '}'].join('\n'));
  const union = terms.slice(1).reduce((left, t, k) => `${k === 0 ? left : `(${left})`} | ${t}`, terms[0]!);
  return `${name}(r) := ${union}\n`;
}

/**
 * The lines binding `v` to each value of fact `f` a version 2 rule is matched
 * against (v2.field_values), or to each non-empty value of a claim, or each
 * string an argument pointer finds (cleaned as a path for `argpath:`), as
 * v2.holds reads them (see lower.ts's claimField and argumentField).
 */
function valuesOf(f: string): string[] {
  if (f.startsWith('claim:')) {
    return [`\tsome v in v2.claim_values(r.request.principal.claims[${regoString(f.slice(6))}])`, '\tv != ""'];
  }
  if (f.startsWith('arg:')) return [`\tsome v in v2.found(r, ${regoSteps(f.slice(4))})`, '\tis_string(v)'];
  if (f.startsWith('argpath:')) {
    return [`\tsome x in v2.found(r, ${regoSteps(f.slice(8))})`, '\tis_string(x)', '\tv := v2.clean_path(x)'];
  }
  switch (f) {
    case 'source':
      return ['\tsome v in r.sources'];
    case 'groups':
      return ['\tsome v in r.request.principal.groups', '\tv != ""'];
    case 'sub':
      return ['\tv := r.request.principal.sub', '\tv != ""'];
    case 'resource':
      return ['\tv := r.request.resource', '\tv != ""'];
    default:
      return [`\tv := r${member(f)}`];
  }
}

/** An argument pointer's steps (JSON, as data.json writes them: {@link StepsV2Json}) as a Rego term. */
function regoSteps(json: string): string {
  const term = (x: unknown): string =>
    typeof x === 'string' ? regoString(x) : Array.isArray(x) ? `[${x.map(term).join(', ')}]` : String(x as number);
  return term(JSON.parse(json) as StepsV2Json);
}

/** A member reference as `opa fmt` prints it: `.name` for a name, else a bracketed string. */
function member(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${regoString(key)}]`;
}

/** The fields of a policy's index that have exact, prefix and suffix entries. */
interface IndexFields {
  readonly equals: readonly string[];
  readonly prefix: readonly string[];
  readonly suffix: readonly string[];
}

function indexFields(data: LoweredData): IndexFields {
  return {
    equals: Object.keys(data.index.equals),
    prefix: Object.keys(data.index.prefixLengths),
    suffix: Object.keys(data.index.suffixLengths),
  };
}

const regoList = (items: readonly string[]): string => `[${items.map(regoString).join(', ')}]`;

/**
 * The helpers a version 2 module takes from v2.rego instead of lib.rego:
 * v2.rego's read the version 2 request fields (the conditions are switched
 * in {@link matchSection}). The module is otherwise the same, so it is
 * printed as for version 1 and these references are switched.
 */
const V2_HELPERS = ['request_error(', 'facts(', 'field_values('];

function throughV2(section: string): string {
  let out = section;
  for (const name of V2_HELPERS) out = out.replaceAll(`lib.${name}`, `v2.${name}`);
  return out;
}

/** Options for {@link emitRego}. */
export interface EmitOptions {
  /** A line of provenance for the header comment (kept out of the output when absent). */
  readonly header?: string;
  /**
   * Package of the module; {@link POLICY_PACKAGE} unless several policies
   * share one bundle (as the differential tester does).
   */
  readonly packageName?: string;
}

/** Prints the Rego module for a lowered policy; its data goes to data.json (see {@link bundleData}). */
export function emitRego(lowered: LoweredPolicy, options: EmitOptions = {}): string {
  const packageName = options.packageName ?? POLICY_PACKAGE;
  const data = loweredDataPath(packageName);
  const firstMatch = 'first_match(lib.facts(req))';
  const ngram = usesNgrams(lowered.data);
  const sections: string[] = [];
  sections.push(
    [
      '# Code generated by mcp-policy. DO NOT EDIT.',
      ...(options.header === undefined ? [] : [`# ${regoString(options.header)}`]),
      `# The rules and their index are data: ${data} (data.json).`,
      `package ${packageName}\n`,
      [
        // In the order opa fmt sorts them.
        `import data.${LIB_PACKAGE}`,
        ...(ngram ? [`import data.${NGRAM_PACKAGE}`] : []),
        ...(lowered.version === 2 ? [`import data.${V2_PACKAGE}`] : []),
        '',
      ].join('\n'),
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
      `\terr := ${lowered.enterprise ? 'request_error' : 'lib.request_error'}(req)`,
      `\td := {"allowed": false, "reason": ${regoString(INVALID_REQUEST_REASON)}, "rule": null, "error": err}`,
      ...(lowered.enterprise
        ? [
            '} else := lib.warned(d, lib.degraded_warning(degraded, req)) if {',
            '\td := lib.directive_denial(directives, degraded, req)',
            `} else := lib.warned(${firstMatch}, lib.degraded_warning(degraded, req))\n`,
          ]
        : [`} else := ${firstMatch}\n`]),
    ].join('\n'),
  );
  if (lowered.enterprise) sections.push(enterpriseSection(data, lowered.provenance));
  // A version 1 module keeps its bytes and reads lib.rego's fixed lists of fields.
  sections.push(
    matchSection(
      data,
      lowered.version === 2 ? indexFields(lowered.data) : undefined,
      ngram ? Object.keys(lowered.data.index.ngramLengths ?? {}) : undefined,
    ),
  );
  // The header (the only section with a policy's text in it) is left as it is.
  const [header, ...rest] = sections;
  const body = lowered.version === 2 ? rest.map(throughV2) : rest;
  return `${[header, ...body].join('\n').trimEnd()}\n`;
}
