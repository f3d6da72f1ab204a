/**
 * Speed II: the engines on rule lists of one pattern shape, beside Cedar
 * (`@cedar-policy/cedar-wasm`, the preparsed policy set and
 * `statefulIsAuthorized`), and the fixed cost of a decision against its
 * floors, with the ratios the goals are stated in.
 *
 * Cedar has no rule order: only policies whose decision does not depend on
 * it have a Cedar equivalent. Each shape is written as an allowlist (default
 * deny, every rule `allow`: one `permit` per rule) and, for `*-svcNNNNN-*`,
 * as a denylist (default allow, every rule `deny`: one `permit` for all and
 * one `forbid` per rule). Before anything is timed, every engine must decide
 * every measured request as native does, Cedar included; the run fails
 * otherwise.
 *
 *   BENCH_ONLY=speed2 npm run bench
 *   BENCH_SPEED2_SIZES=10,100,1000,10000     (policy sizes; default shown)
 *   BENCH_SPEED2_SHAPES=prefix,suffix,infix,short
 */
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { type Decision, type PolicyRequest } from '../src/index.js';
import {
  floors,
  opaBench,
  opaServer,
  perSecond,
  type Prepared,
  prepare,
  serverRate,
  updateDocument,
} from './bench-engines.js';
import { benchPolicy } from './bench-policies.js';
import { CONDITIONS, CONTEXT } from './bench-v2.js';

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const rate = (n: number): string => int.format(Number(n.toPrecision(3)));
const times = (n: number): string => `${n >= 10 ? int.format(n) : n.toFixed(1)}×`;
const mark = (ok: boolean): string => (ok ? 'met' : '**not met**');

const idOf = (i: number): string => String(i).padStart(5, '0');

/** Characters of the two-character pieces (100 of them, so 10,000 rules have 10,000 pieces) and of the one-character ones. */
const PAIR_CHARS = Array.from({ length: 100 }, (_, k) => String.fromCodePoint(0xc0 + k));
const SINGLE_CHARS = '0123456789';

/** The piece of rule `i` in the `short` shape: two characters, one for every tenth rule (none of the pair characters). */
function shortPiece(i: number): string {
  if (i % 10 === 5) return SINGLE_CHARS[Math.floor(i / 10) % SINGLE_CHARS.length]!;
  return `${PAIR_CHARS[Math.floor(i / 100) % 100]!}${PAIR_CHARS[i % 100]!}`;
}

/** A pattern shape: rule `i`'s `server` pattern, a value only that rule matches, and one no rule matches. */
export interface Shape {
  readonly name: ShapeName;
  readonly label: string;
  /** Whether the goal late(10,000) ≤ 2 × late(10) applies (a literal start or end, or pieces of at least 3 characters). */
  readonly flat: boolean;
  pattern(i: number): string;
  value(i: number): string;
  readonly none: string;
}

export type ShapeName = 'prefix' | 'suffix' | 'infix' | 'short';

export const SHAPES: readonly Shape[] = [
  {
    name: 'prefix',
    label: '`team-NNNNN-*` (literal start)',
    flat: true,
    pattern: (i) => `team-${idOf(i)}-*`,
    value: (i) => `team-${idOf(i)}-notes`,
    none: 'unlisted',
  },
  {
    name: 'suffix',
    label: '`*.svc-NNNNN` (literal end)',
    flat: true,
    pattern: (i) => `*.svc-${idOf(i)}`,
    value: (i) => `billing.svc-${idOf(i)}`,
    none: 'unlisted',
  },
  {
    name: 'infix',
    label: '`*-svcNNNNN-*` (neither)',
    flat: true,
    pattern: (i) => `*-svc${idOf(i)}-*`,
    value: (i) => `x-svc${idOf(i)}-y`,
    none: 'unlisted',
  },
  {
    name: 'short',
    label: '`*x*`, pieces of 1–2 characters',
    flat: false,
    pattern: (i) => `*${shortPiece(i)}*`,
    value: (i) => shortPiece(i),
    none: '~~',
  },
];

export type List = 'allowlist' | 'denylist';

/** The mcp-policy document of a shape's list of `size` rules. */
export function policyOf(shape: Shape, list: List, size: number): unknown {
  const allow = list === 'allowlist';
  return {
    version: 1,
    default: allow ? 'deny' : 'allow',
    rules: Array.from({ length: size }, (_, i) => ({ server: shape.pattern(i), allow })),
  };
}

/** A Cedar string literal: `"` and `\` escaped; in a `like` pattern `*` stays the wildcard (no pattern here has a literal `*`). */
const cedarString = (s: string): string => `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;

/** The Cedar policy set of the same list: the host puts the request's fields in the context. */
export function cedarPolicies(shape: Shape, list: List, size: number): string {
  const when = (i: number) => `when { context.server like ${cedarString(shape.pattern(i))} };`;
  const rules = Array.from({ length: size }, (_, i) =>
    list === 'allowlist'
      ? `permit(principal, action, resource) ${when(i)}`
      : `forbid(principal, action, resource) ${when(i)}`,
  );
  if (list === 'denylist') rules.unshift('permit(principal, action, resource);');
  return rules.join('\n');
}

let cedarSets = 0;

/** A Cedar decider on a preparsed policy set: true for allow. */
export function cedarEngine(text: string): (request: PolicyRequest) => boolean {
  const id = `speed2-${cedarSets++}`;
  const parsed = cedar.preparsePolicySet(id, { staticPolicies: text });
  if (parsed.type !== 'success') throw new Error(`cedar: ${JSON.stringify(parsed.errors)}`);
  return (request) => {
    const context: Record<string, string> = {};
    for (const [k, v] of Object.entries(request)) if (typeof v === 'string') context[k] = v;
    const answer = cedar.statefulIsAuthorized({
      principal: { type: 'User', id: 'host' },
      action: { type: 'Action', id: String(request.action ?? 'invoke') },
      resource: { type: 'Server', id: String(request.server ?? '') },
      context,
      preparsedPolicySetId: id,
      entities: [],
    });
    if (answer.type !== 'success') throw new Error(`cedar: ${JSON.stringify(answer.errors)}`);
    return answer.response.decision === 'allow';
  };
}

interface Row {
  readonly shape: Shape;
  readonly list: List;
  readonly size: number;
  readonly c: 'late' | 'none';
  readonly native: number;
  readonly wasm: number;
  readonly interp: number;
  readonly cedar: number;
}

/** Decisions per second of every engine on one request, after every engine is checked against native. */
async function measure(
  p: Prepared,
  isAllowed: (r: PolicyRequest) => boolean,
  request: PolicyRequest,
  rule: number | null,
  label: string,
): Promise<Omit<Row, 'shape' | 'list' | 'size' | 'c'>> {
  const expected = p.native.decideSync(request);
  const fromWasm = p.wasm.decideSync(request);
  if (expected.rule !== rule || expected.error !== undefined || !isDeepStrictEqual(expected, fromWasm)) {
    throw new Error(
      `${label}: native ${JSON.stringify(expected)}, wasm ${JSON.stringify(fromWasm)}; expected rule ${rule}`,
    );
  }
  if (isAllowed(request) !== expected.allowed) {
    throw new Error(
      `${label}: cedar decided ${expected.allowed ? 'deny' : 'allow'}, native ${JSON.stringify(expected)}`,
    );
  }
  const same = (d: Decision) => sameDecision(d, expected);
  return {
    native: perSecond(() => same(p.native.decideSync(request)), 1),
    wasm: perSecond(() => same(p.wasm.decideSync(request)), 1),
    interp: await opaBench(p.dir, request),
    cedar: perSecond(() => isAllowed(request) === expected.allowed, 1),
  };
}

/**
 * Whether a timed decision is the one checked in full before timing: a
 * comparison of its members, since a deep comparison costs about 0.5 µs, as
 * much as half a native decision, and the floors' own check costs nothing.
 */
const sameDecision = (d: Decision, expected: Decision): boolean =>
  d.allowed === expected.allowed &&
  d.rule === expected.rule &&
  d.reason === expected.reason &&
  d.error === expected.error &&
  d.warning === expected.warning;

/** The fixed cost against the floors, and wasm against OPA's REST server on the same generated Rego. */
interface Fixed {
  /** Per version, the floors on that version's early request (a version 2 request carries more JSON). */
  readonly floor: Readonly<Record<1 | 2, { wasm: number; native: number }>>;
  readonly rows: { version: 1 | 2; label: string; native: number; wasm: number }[];
  readonly server: { size: number; wasm: number; server: number }[];
}

async function fixedCost(sizes: readonly number[]): Promise<Fixed> {
  const b = benchPolicy(10);
  process.stderr.write('bench speed2: floors...\n');
  const floor = { 1: await floors(b.requests.early), 2: await floors({ ...b.requests.early, ...CONTEXT }) };
  const rows: Fixed['rows'] = [];
  const server: Fixed['server'] = [];
  const v2 = { ...b.policy, version: 2, rules: b.policy.rules.map((r) => ({ ...r, ...CONDITIONS })) };
  for (const [version, policy] of [
    [1, b.policy],
    [2, v2],
  ] as const) {
    const p = await prepare(policy);
    try {
      for (const c of ['early', 'late'] as const) {
        const request = version === 1 ? b.requests[c] : { ...b.requests[c], ...CONTEXT };
        const expected = p.native.decideSync(request);
        if (expected.rule !== b.expectedRule[c] || !isDeepStrictEqual(expected, p.wasm.decideSync(request))) {
          throw new Error(`fixed cost, v${version} ${c}: native ${JSON.stringify(expected)}`);
        }
        const same = (d: Decision) => sameDecision(d, expected);
        rows.push({
          version,
          label: `v${version}, 10 rules, ${c}`,
          native: perSecond(() => same(p.native.decideSync(request)), 1),
          wasm: perSecond(() => same(p.wasm.decideSync(request)), 1),
        });
      }
    } finally {
      await rm(p.dir, { recursive: true, force: true });
    }
  }
  // OPA's REST server against wasm, on the bench policy's late request (the engines section's mix).
  for (const size of new Set([sizes[0] ?? 10, sizes[sizes.length - 1] ?? 10_000])) {
    process.stderr.write(`bench speed2: OPA server, ${int.format(size)} rules...\n`);
    const bp = benchPolicy(size);
    const p = await prepare(bp.policy);
    try {
      const request = bp.requests.late;
      const expected = p.native.decideSync(request);
      const wasm = perSecond(() => isDeepStrictEqual(p.wasm.decideSync(request), expected), 1);
      const s = await opaServer(p.dir);
      try {
        server.push({ size, wasm, server: await serverRate(s.url, request, expected) });
      } finally {
        await s.stop();
      }
    } finally {
      await rm(p.dir, { recursive: true, force: true });
    }
  }
  return { floor, rows, server };
}

/**
 * Runs every engine's decision path for a while before anything is timed:
 * the first series measured in a fresh process otherwise pays for V8's and
 * the WebAssembly compilers' tiers.
 */
async function warmUp(): Promise<void> {
  const shape = SHAPES[0]!;
  const p = await prepare(policyOf(shape, 'allowlist', 10));
  try {
    const isAllowed = cedarEngine(cedarPolicies(shape, 'allowlist', 10));
    const request = { action: 'invoke', server: shape.value(9) };
    perSecond(() => p.native.decideSync(request).allowed, 1);
    perSecond(() => p.wasm.decideSync(request).allowed, 1);
    perSecond(() => isAllowed(request), 1);
  } finally {
    await rm(p.dir, { recursive: true, force: true });
  }
}

/** The commit measured (with `+` when the working tree differs from it), for the section's heading. */
function commitMeasured(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: 'pipe' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
      stdio: 'pipe',
    });
    return `${head}${dirty.trim() === '' ? '' : '+'}`;
  } catch {
    return 'unknown';
  }
}

/** The Speed II section: returns Markdown and writes it into `document` between its markers. */
export async function benchSpeed2(document?: string): Promise<string> {
  const sizes = (process.env.BENCH_SPEED2_SIZES ?? '10,100,1000,10000').split(',').map(Number);
  const wanted = (process.env.BENCH_SPEED2_SHAPES ?? 'prefix,suffix,infix,short').split(',');
  const shapes = SHAPES.filter((s) => wanted.includes(s.name));
  const [first, last] = [sizes[0] ?? 10, sizes[sizes.length - 1] ?? 10_000];
  const rows: Row[] = [];
  const lists: [Shape, List][] = [
    ...shapes.map((s): [Shape, List] => [s, 'allowlist']),
    ...shapes.filter((s) => s.name === 'infix').map((s): [Shape, List] => [s, 'denylist']),
  ];
  await warmUp();
  for (const [shape, list] of lists) {
    for (const size of list === 'allowlist' ? sizes : [first, last]) {
      process.stderr.write(`bench speed2: ${shape.name} ${list}, ${int.format(size)} rules...\n`);
      const p = await prepare(policyOf(shape, list, size));
      try {
        const isAllowed = cedarEngine(cedarPolicies(shape, list, size));
        const requests = {
          late: { action: 'invoke', server: shape.value(size - 1) },
          none: { action: 'invoke', server: shape.none },
        };
        for (const c of ['late', 'none'] as const) {
          const label = `${shape.name} ${list} ${size} ${c}`;
          const measured = await measure(p, isAllowed, requests[c], c === 'late' ? size - 1 : null, label);
          rows.push({ shape, list, size, c, ...measured });
        }
      } finally {
        await rm(p.dir, { recursive: true, force: true });
      }
    }
  }
  const fixed = await fixedCost(sizes);

  const out: string[] = [];
  const at = (shape: Shape, list: List, size: number, c: 'late' | 'none') =>
    rows.find((r) => r.shape === shape && r.list === list && r.size === size && r.c === c);
  out.push('### Speed II: pattern shapes, Cedar beside the engines (decisions per second)');
  out.push('');
  out.push(`Commit \`${commitMeasured()}\` (\`+\`: with uncommitted changes).`);
  out.push('');
  out.push(
    'Every rule constrains `server` with one pattern of the shape; `late` matches only the last rule, `none` no rule. ' +
      'native: `NativeEngine.decideSync`; wasm: `WasmEngine.decideSync`; interpreter: `opa bench` on the generated ' +
      'Rego and data.json; Cedar: `@cedar-policy/cedar-wasm` ' +
      `${cedar.getCedarVersion()}, \`statefulIsAuthorized\` on a preparsed policy set of one \`permit\` per rule ` +
      '(`context.server like "…"`), or for the denylist one `permit` and a `forbid` per rule. Every engine, Cedar ' +
      'included, decided each request as native does before it was timed.',
  );
  out.push('');
  out.push('| shape | list | rules | request | native | wasm | interpreter | Cedar | native ÷ Cedar | wasm ÷ Cedar |');
  out.push('| :--- | :--- | ---: | :--- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    out.push(
      `| ${r.shape.name} | ${r.list} | ${int.format(r.size)} | ${r.c} | ${rate(r.native)} | ${rate(r.wasm)} | ` +
        `${rate(r.interp)} | ${rate(r.cedar)} | ${times(r.native / r.cedar)} | ${times(r.wasm / r.cedar)} |`,
    );
  }
  out.push('');
  out.push(
    `Cost of ${int.format(last)} rules against ${int.format(first)}, late(${int.format(last)}) ÷ late(${int.format(first)}) ` +
      'in time per decision (goal: at most 2× for native, wasm and the interpreter where a rule has a literal start or ' +
      'end or pieces of at least 3 characters; pieces of 1–2 characters show the curve):',
  );
  out.push('');
  out.push('| shape | list | native | wasm | interpreter | Cedar | goal |');
  out.push('| :--- | :--- | ---: | ---: | ---: | ---: | :--- |');
  const curves: boolean[] = [];
  for (const [shape, list] of lists) {
    const a = at(shape, list, first, 'late');
    const z = at(shape, list, last, 'late');
    if (!a || !z || first === last) continue;
    const k = (e: 'native' | 'wasm' | 'interp' | 'cedar') => a[e] / z[e];
    const ok = k('native') <= 2 && k('wasm') <= 2 && k('interp') <= 2;
    if (shape.flat) curves.push(ok);
    out.push(
      `| ${shape.name} | ${list} | ${times(k('native'))} | ${times(k('wasm'))} | ${times(k('interp'))} | ${times(k('cedar'))} | ` +
        `${shape.flat ? mark(ok) : 'curve shown'} |`,
    );
  }
  out.push('');
  const behind = rows.filter((r) => r.native <= r.cedar || r.wasm <= r.cedar);
  const atLast = rows.filter((r) => r.size === last);
  const minAt = (e: 'native' | 'wasm') => Math.min(...atLast.map((r) => r[e] / r.cedar));
  const cedarOk = behind.length === 0 && minAt('wasm') >= 10 && minAt('native') >= 100;
  out.push(
    `Against Cedar: ahead at every size and shape: ${behind.length === 0 ? 'yes' : `no (${behind.length} rows)`}; at ` +
      `${int.format(last)} rules, the smallest wasm ÷ Cedar is ${times(minAt('wasm'))} (goal: at least 10×) and the ` +
      `smallest native ÷ Cedar ${times(minAt('native'))} (goal: at least 100×): ${mark(cedarOk)}.`,
  );
  out.push('');
  out.push(
    "The fixed cost, on the bench policy of 10 rules (the engines section's mix; v2: the same rules with the " +
      'version 2 conditions of the version 2 section): time per decision against the floors on the same ' +
      "version's early request, wasm against a module whose decision is a constant (v1 " +
      `${rate(fixed.floor[1].wasm)}/s, v2 ${rate(fixed.floor[2].wasm)}/s), native against the request boundary alone ` +
      `(v1 ${rate(fixed.floor[1].native)}/s, v2 ${rate(fixed.floor[2].native)}/s). Goal: at most 2× each.`,
  );
  out.push('');
  out.push('| policy and request | native | native ÷ floor | wasm | wasm ÷ floor |');
  out.push('| :--- | ---: | ---: | ---: | ---: |');
  for (const r of fixed.rows) {
    out.push(
      `| ${r.label} | ${rate(r.native)} | ${times(fixed.floor[r.version].native / r.native)} | ${rate(r.wasm)} | ` +
        `${times(fixed.floor[r.version].wasm / r.wasm)} |`,
    );
  }
  const worst = (e: 'native' | 'wasm') => Math.max(...fixed.rows.map((r) => fixed.floor[r.version][e] / r[e]));
  out.push('');
  out.push(
    `Floors: native within ${times(worst('native'))} (${mark(worst('native') <= 2)}), wasm within ` +
      `${times(worst('wasm'))} (${mark(worst('wasm') <= 2)}).`,
  );
  out.push('');
  out.push(
    "wasm against OPA's REST server (`opa run --server` on the same generated Rego, `POST /v1/data/mcp_policy/decision` " +
      "from autocannon over keep-alive connections, as in the engines section), the bench policy's late request " +
      '(goal: at least 50×):',
  );
  out.push('');
  out.push('| rules | wasm | OPA server | wasm ÷ server | goal |');
  out.push('| ---: | ---: | ---: | ---: | :--- |');
  for (const s of fixed.server) {
    out.push(
      `| ${int.format(s.size)} | ${rate(s.wasm)} | ${rate(s.server)} | ${times(s.wasm / s.server)} | ${mark(s.wasm / s.server >= 50)} |`,
    );
  }
  out.push('');
  out.push(
    `Summary: flat curves ${mark(curves.every(Boolean))}; Cedar ${mark(cedarOk)}; floors native ` +
      `${mark(worst('native') <= 2)}, wasm ${mark(worst('wasm') <= 2)}; OPA server ` +
      `${mark(fixed.server.every((s) => s.wasm / s.server >= 50))}.`,
  );
  const section = `${out.join('\n')}\n`;
  if (document !== undefined) await updateDocument(document, section, 'speed2');
  return section;
}
