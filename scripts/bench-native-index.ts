/**
 * The native engine's n-gram index on rule lists with no literal start or
 * end: decisions per second for a request that only the last rule matches,
 * from 10 to 10,000 rules, and the ratio of the ends (the goal is at most 2× for pieces
 * of three characters or more). Pieces of one or two characters have few
 * distinct grams, so many rules share each; their curve is shown, not judged.
 * Each cell: late decisions per second (best of three), and in brackets the
 * rules the request is a candidate for. Also the longest allowed field
 * against a 60-star pattern and 10,000 rules filed under n-grams.
 *
 *   npm run build && node dist/scripts/bench-native-index.js
 *   BENCH_INDEX_SIZES=10,100,1000,10000     (sizes; default shown)
 */
import { performance } from 'node:perf_hooks';
import { MAX_FIELD_LENGTH } from '../src/policy/model.js';
import { evaluatePolicy } from '../src/native/evaluate.js';
import { type Field, planOf } from '../src/native/plan.js';
import { parsePolicy } from '../src/policy/validate.js';
import { type Policy } from '../src/policy/model.js';

const BUDGET_MS = Number(process.env.BENCH_BUDGET_MS ?? 250);
const SIZES = (process.env.BENCH_INDEX_SIZES ?? '10,100,1000,10000').split(',').map(Number);

function perSecond(call: () => boolean): number {
  for (let k = 0; k < 200; k++) if (!call()) throw new Error('wrong decision during warm-up');
  let done = 0;
  const start = performance.now();
  let elapsed: number;
  do {
    for (let k = 0; k < 50; k++) if (!call()) throw new Error('wrong decision while timing');
    done += 50;
    elapsed = performance.now() - start;
  } while (elapsed < BUDGET_MS);
  return (done * 1000) / elapsed;
}

function policyOf(rules: unknown[]): Policy {
  const parsed = parsePolicy(JSON.stringify({ version: 2, default: 'deny', rules }));
  if (!parsed.value?.policy) throw new Error(JSON.stringify(parsed.errors));
  return parsed.value.policy;
}

/** A shape: rule `i` of `size` as policy JSON, and a request only rule `size - 1` matches. */
interface Shape {
  readonly name: string;
  rule(i: number): Record<string, unknown>;
  late(size: number): Record<string, unknown>;
}

const id = (i: number): string => String(i).padStart(5, '0');
/** Distinct strings of `width` lowercase letters, `i` written in base 26. */
const letters = (i: number, width: number): string => {
  let s = '';
  for (let k = 0; k < width; k++, i = Math.floor(i / 26)) s = String.fromCharCode(97 + (i % 26)) + s;
  return s;
};

const SHAPES: readonly Shape[] = [
  {
    name: 'server `*-svcNNNNN-*`',
    rule: (i) => ({ server: `*-svc${id(i)}-*`, allow: i % 2 === 0 }),
    late: (size) => ({ server: `x-svc${id(size - 1)}-y` }),
  },
  {
    name: 'tool `*xyz*` (3 letters)',
    rule: (i) => ({ tools: [`*${letters(i, 3)}*`], allow: true }),
    late: (size) => ({ tool: `1-${letters(size - 1, 3)}-2` }),
  },
  {
    name: 'v2 resources `*://host.example/*`',
    rule: (i) => ({ action: 'resource', resources: [`*://${letters(i, 5)}.example/*`], allow: true }),
    late: (size) => ({ action: 'resource', resource: `https://${letters(size - 1, 5)}.example/a/b` }),
  },
  {
    name: 'v2 groups `*team-NNNNN*`',
    rule: (i) => ({ groups: [`*team-${id(i)}*`], allow: true }),
    late: (size) => ({ principal: { sub: 'u', groups: ['staff', `org:team-${id(size - 1)}:rw`] } }),
  },
  {
    name: 'tool `*xy*uv*` (2 letters)',
    rule: (i) => ({ tools: [`*${letters(i % 676, 2)}*${letters(Math.floor(i / 676), 2)}*`], allow: true }),
    late: (size) => ({ tool: `${letters((size - 1) % 676, 2)}-${letters(Math.floor((size - 1) / 676), 2)}` }),
  },
  {
    name: 'tool `*x*y*z*` (1 letter)',
    rule: (i) => ({ tools: [`*${letters(i, 3).split('').join('*')}*`], allow: true }),
    late: (size) => ({
      tool: letters(size - 1, 3)
        .split('')
        .join('-'),
    }),
  },
];

/** Milliseconds of each policy's first decision, which builds its plan. */
const compile = new Map<string, number>();
const rate = (n: number): string => Math.round(Number(n.toPrecision(3))).toLocaleString('en-US');

console.log(
  `| shape | ${SIZES.map((s) => `${s.toLocaleString('en-US')} rules`).join(' | ')} | late(${SIZES.at(-1)}) ÷ late(${SIZES[0]}) |`,
);
console.log(`| --- | ${SIZES.map(() => '---:').join(' | ')} | ---: |`);
// One untimed pass first, so the first shape measured is not also the one that warms the JIT up.
for (const shape of SHAPES) {
  const policy = policyOf(Array.from({ length: 10 }, (_, i) => shape.rule(i)));
  const request = shape.late(10);
  for (let k = 0; k < 20_000; k++) evaluatePolicy(policy, request);
}
/**
 * The rules a request is a candidate for: those whose filed key its values
 * have (a hash collision aside, which the index may add), in the fields the
 * shapes above use. Counted from the plan's filing, so it does not depend on
 * the machine's load.
 */
function candidatesOf(policy: Policy, request: Record<string, unknown>): number {
  const plan = planOf(policy);
  const principal = (request.principal ?? {}) as { sub?: string; groups?: string[] };
  const valuesOf = (field: Field): string[] => {
    const v =
      field === 'group'
        ? principal.groups
        : field === 'sub'
          ? principal.sub
          : (request as Record<string, unknown>)[field];
    return typeof v === 'string' ? [v] : Array.isArray(v) ? (v as string[]) : [];
  };
  let n = 0;
  for (let i = 0; i < policy.rules.length; i++) {
    const entries = plan.filing(i);
    const hit =
      entries.length === 0 ||
      entries.some((e) =>
        valuesOf(e.field).some((v) =>
          e.kind === 'exact'
            ? v === e.key
            : e.kind === 'prefix'
              ? v.startsWith(e.key)
              : e.kind === 'suffix'
                ? v.endsWith(e.key)
                : v.includes(e.key),
        ),
      );
    if (hit) n++;
  }
  return n;
}

/** The best of three runs, taken in turn with the other sizes': on a shared machine the least disturbed. */
const ROUNDS = 3;
for (const shape of SHAPES) {
  const cases = SIZES.map((size) => {
    const policy = policyOf(Array.from({ length: size }, (_, i) => shape.rule(i)));
    const request = shape.late(size);
    const compiling = performance.now();
    const d = evaluatePolicy(policy, request);
    compile.set(`${shape.name} ${size}`, performance.now() - compiling);
    if (d.rule !== size - 1) throw new Error(`${shape.name} at ${size}: rule ${d.rule}, ${d.error ?? ''}`);
    return { policy, request, size, best: 0, candidates: candidatesOf(policy, request) };
  });
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of cases) {
      c.best = Math.max(
        c.best,
        perSecond(() => evaluatePolicy(c.policy, c.request).rule === c.size - 1),
      );
    }
  }
  const first = (cases[0] as (typeof cases)[number]).best;
  const last = (cases.at(-1) as (typeof cases)[number]).best;
  console.log(
    `| ${shape.name} | ${cases.map((c) => `${rate(c.best)} (${c.candidates})`).join(' | ')} | ${(first / last).toFixed(1)}× |`,
  );
}

// Bounded work: the longest field against a 60-star pattern, and 10,000 gram rules whose grams it repeats.
const long = 'a'.repeat(MAX_FIELD_LENGTH);
const hostile = policyOf([
  { tools: [`*${'a*'.repeat(60)}file`], allow: true },
  ...Array.from({ length: 10_000 }, (_, i) => ({ tools: [`*aaa*-${i}-*`], allow: true })),
]);
// Compiled (and the JIT warmed) before timing: the plan is built once per policy.
for (let k = 0; k < 3; k++) evaluatePolicy(hostile, { tool: long });
const start = performance.now();
let n = 0;
do {
  if (evaluatePolicy(hostile, { tool: long }).rule !== null) throw new Error('hostile: wrong decision');
  n++;
} while (performance.now() - start < BUDGET_MS);
const largest = SIZES.at(-1) as number;
console.log(
  `\nfirst decision (building the plan) at ${largest.toLocaleString('en-US')} rules: ${SHAPES.map((s) => `${s.name} ${(compile.get(`${s.name} ${largest}`) ?? 0).toFixed(0)} ms`).join(', ')}`,
);
console.log(
  `longest field (${MAX_FIELD_LENGTH} × "a") against a 60-star pattern and 10,000 rules filed under n-grams: ${((performance.now() - start) / n).toFixed(2)} ms per decision`,
);
