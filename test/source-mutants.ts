/**
 * Mutants of the shipped build path: concrete edits of the real lowering,
 * emitting and escaping modules. Each is applied to a copy of `src/` in a
 * temporary folder (never to the files on disk), and the copy's own
 * pipeline, engines and differential tester are imported from there, so a
 * mutant reaches the bundles the real opa builds exactly as a regression in
 * those files would.
 */
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type DiffEngine } from '../src/difftest/engines.js';

const ROOT = join(import.meta.dirname, '..');

/** One textual edit of one shipped file; `from` must occur exactly once. */
export interface SourceEdit {
  /** Path under the package root, e.g. `src/pipeline/lower.ts` or `rego/mcp_policy/lib.rego`. */
  readonly file: string;
  readonly from: string;
  readonly to: string;
}

/** A named mutant of the shipped sources and the regression it stands for. */
export interface SourceMutant {
  readonly name: string;
  readonly why: string;
  readonly edits: readonly SourceEdit[];
}

const LOWER = 'src/pipeline/lower.ts';
const EMIT = 'src/pipeline/emit.ts';
const STRINGS = 'src/pipeline/rego-strings.ts';

/** Mutants of lowering and emitting: each changes what the opa and wasm engines decide for some policy. */
export const BUILD_PATH_MUTANTS: readonly SourceMutant[] = [
  {
    name: 'index-prefix-shifted',
    why: 'a prefix index key starts one code point late, so the rule is never a candidate',
    edits: [
      {
        file: LOWER,
        from: "value: pre.slice(0, MAX_AFFIX_KEY).join('')",
        to: "value: pre.slice(1, MAX_AFFIX_KEY + 1).join('')",
      },
    ],
  },
  {
    name: 'index-suffix-shifted',
    why: 'a suffix index key loses its last code point',
    edits: [
      {
        file: LOWER,
        from: "value: suf.slice(-MAX_AFFIX_KEY).join('')",
        to: "value: suf.slice(-MAX_AFFIX_KEY - 1, -1).join('')",
      },
    ],
  },
  {
    name: 'rule-number-shifted',
    why: 'a rule decides under the number of the next one',
    edits: [{ file: LOWER, from: 'rule.allow), rule: index }', to: 'rule.allow), rule: index + 1 }' }],
  },
  {
    name: 'contains-lowered-as-equals',
    why: 'the condition kind of a `*text*` server pattern is swapped for an exact match',
    edits: [
      {
        file: LOWER,
        from: "out.push(['contains', 'server', w.middles[0] as string]);",
        to: "out.push(['equals', 'server', w.middles[0] as string]);",
      },
    ],
  },
  {
    name: 'source-literal-lowered-as-field',
    why: 'a literal serverSource is matched as a plain field, without its canonical image form',
    edits: [
      {
        file: LOWER,
        from: "out.push(['source_is', rule.serverSource]);",
        to: "out.push(['equals', 'serverSource', rule.serverSource]);",
      },
    ],
  },
  {
    name: 'first-middle-piece-dropped',
    why: 'a pattern with pieces between stars loses the first of them',
    edits: [{ file: LOWER, from: 'middles: pieces.slice(1, -1)', to: 'middles: pieces.slice(2, -1)' }],
  },
  {
    name: 'unindexable-rules-dropped',
    why: 'rules no lookup can find are left out of `always`',
    edits: [{ file: LOWER, from: 'always.push(index);\n      return;', to: 'return;' }],
  },
  {
    name: 'tool-literals-dropped',
    why: 'the literal names of a mixed `tools` list are lost',
    edits: [
      {
        file: LOWER,
        from: "if (!t.includes('*')) literals[t] = true;",
        to: "if (!t.includes('*') && t.length > 3) literals[t] = true;",
      },
    ],
  },
  {
    name: 'first-match-is-last-match',
    why: 'the first-match order is broken: the highest-numbered matching rule decides',
    edits: [{ file: EMIT, from: '.decisions[min(hits)])', to: '.decisions[max(hits)])' }],
  },
  {
    name: 'always-not-candidates',
    why: 'the rules the index cannot narrow are never checked',
    edits: [
      {
        file: EMIT,
        from: "'candidates(r) := ((equal_hits(r) | prefix_hits(r)) | suffix_hits(r)) | always\\n'",
        to: "'candidates(r) := (equal_hits(r) | prefix_hits(r)) | suffix_hits(r)\\n'",
      },
      // The n-gram section extends the same rule, so it is mutated alike (it refuses to build a rule it cannot find).
      {
        file: EMIT,
        from: "const before = 'candidates(r) := ((equal_hits(r) | prefix_hits(r)) | suffix_hits(r)) | always';",
        to: "const before = 'candidates(r) := (equal_hits(r) | prefix_hits(r)) | suffix_hits(r)';",
      },
      {
        file: EMIT,
        from: "const after = 'candidates(r) := (((equal_hits(r) | prefix_hits(r)) | suffix_hits(r)) | ngram_hits(r)) | always';",
        to: "const after = 'candidates(r) := ((equal_hits(r) | prefix_hits(r)) | suffix_hits(r)) | ngram_hits(r)';",
      },
    ],
  },
  {
    name: 'suffix-looked-up-as-prefix',
    why: 'suffix tiers are read with the first code points of the value instead of the last',
    edits: [
      {
        file: EMIT,
        from: '.index.suffix[f][k][lib.suffix_of(v, n)]`',
        to: '.index.suffix[f][k][substring(v, 0, n)]`',
      },
    ],
  },
  {
    name: 'exact-lookups-on-affix-fields',
    why: 'exact entries are looked up only for server, source and tool, never for the enums',
    edits: [{ file: EMIT, from: "\tsome f in lib.index_fields',", to: "\tsome f in lib.affix_fields'," }],
  },
  {
    name: 'degraded-warning-dropped',
    why: 'a directive denial loses the degraded-mode warning',
    edits: [
      {
        file: EMIT,
        from: "'} else := lib.warned(d, lib.degraded_warning(degraded, req)) if {',",
        to: "'} else := d if {',",
      },
    ],
  },
];

/**
 * Mutants of the n-gram index of the generated Rego: each leaves some rule
 * that can match a request out of its candidates, so only policies with
 * enough rules on one field whose patterns have no literal start or end
 * (past NGRAM_MIN_RULES) and requests aimed at their pieces reach it.
 */
export const REGO_NGRAM_MUTANTS: readonly SourceMutant[] = [
  {
    name: 'rego-ngram-last-gram-dropped',
    why: "a value's last n-gram is never looked up, so a piece at the very end of a value is not found",
    edits: [{ file: 'rego/mcp_policy/ngram.rego', from: '\ti + n <= count(cs)\n', to: '\ti + n < count(cs)\n' }],
  },
  {
    name: 'rego-ngram-length-off-by-one',
    why: "a request's n-grams are cut one code point shorter than the tier they are looked up in",
    edits: [{ file: EMIT, from: "'\\tsome g in ngram.grams(v, n)',", to: "'\\tsome g in ngram.grams(v, n - 1)'," }],
  },
];

/**
 * Mutants of the n-gram index on version 2's many-valued fields (groups,
 * claims, argument strings) in the generated Rego: each files a rule where a
 * request does not look, or looks where nothing is filed.
 */
export const REGO_NGRAM_VALUE_MUTANTS: readonly SourceMutant[] = [
  {
    name: 'rego-ngram-negated-argument-filed',
    why: 'a negated argument match is filed under its n-grams, so it is a candidate only when its piece is there',
    edits: [
      {
        file: LOWER,
        from: "if (a.test !== 'match' || a.not) return undefined;",
        to: "if (a.test !== 'match') return undefined;",
      },
    ],
  },
  {
    name: 'rego-ngram-claim-read-as-list',
    why: "a claim's values are read as a list, so a claim holding one string is never cut into n-grams",
    edits: [
      {
        file: EMIT,
        from: 'some v in v2.claim_values(r.request.principal.claims[${regoString(f.slice(6))}])',
        to: 'some v in r.request.principal.claims[${regoString(f.slice(6))}]',
      },
    ],
  },
];

const ARGUMENTS = 'src/native/arguments.ts';

/**
 * Mutants of the native engine's version 2 semantics: each breaks one rule
 * of docs/semantics.md that only some version 2 policies and requests
 * reach, so the differential tester catches it only if its generators do.
 */
export const VERSION_2_MUTANTS: readonly SourceMutant[] = [
  {
    name: 'star-means-every-element',
    why: 'a `*` segment holds when every element or member passes, not some',
    edits: [
      {
        file: ARGUMENTS,
        from: 'for (let k = 0; k < root.length; k++) if (visitValues(root[k], segments, visit, from + 1)) return true;\n      return false;',
        to: 'for (let k = 0; k < root.length; k++) if (!visitValues(root[k], segments, visit, from + 1)) return false;\n      return root.length > 0;',
      },
      {
        file: ARGUMENTS,
        from: 'if (visitValues((root as Record<string, unknown>)[key], segments, visit, from + 1)) return true;\n    }\n    return false;',
        to: 'if (!visitValues((root as Record<string, unknown>)[key], segments, visit, from + 1)) return false;\n    }\n    return Object.keys(root).length > 0;',
      },
    ],
  },
  {
    name: 'not-holds-on-missing-value',
    why: '`not` is applied to a value that is not there, so the condition holds instead of failing',
    edits: [
      { file: ARGUMENTS, from: 'if (args === undefined) return false;', to: 'if (args === undefined) return not;' },
      { file: ARGUMENTS, from: 'return any && passed !== not;', to: 'return any ? passed !== not : not;' },
    ],
  },
  {
    name: 'annotation-defaults-inverted',
    why: "a hint the request does not declare takes the opposite of MCP's default",
    edits: [
      {
        file: 'src/policy/model.ts',
        from: '  readOnlyHint: false,\n  destructiveHint: true,\n  idempotentHint: false,\n  openWorldHint: true,\n};',
        to: '  readOnlyHint: true,\n  destructiveHint: false,\n  idempotentHint: true,\n  openWorldHint: false,\n};',
      },
    ],
  },
  {
    name: 'dot-dot-pops-two',
    why: 'path cleaning is off by one segment: `..` removes two segments',
    edits: [
      {
        file: ARGUMENTS,
        from: 'if (depth > ups) {\n        depth--;',
        to: 'if (depth > ups) {\n        depth = Math.max(depth - 2, ups);',
      },
    ],
  },
];

const NGRAM = 'src/native/ngram.ts';

/**
 * Mutants of the native engine's n-gram index: each loses candidates for
 * some rule with no literal start or end, so the rule is never checked on a
 * request it matches.
 */
export const NATIVE_NGRAM_MUTANTS: readonly SourceMutant[] = [
  {
    name: 'ngram-last-dropped',
    why: "the value's last n-gram of each length is never looked up",
    edits: [{ file: NGRAM, from: 'if (i === total) break;', to: 'if (i >= total - 1) break;' }],
  },
  {
    name: 'ngram-length-off-by-one',
    why: 'a gram is filed among the grams one code unit shorter, which no window of the value hashes to',
    edits: [
      {
        file: NGRAM,
        from: 'const n = gram.length;\n    let tier',
        to: 'const n = Math.max(1, gram.length - 1);\n    let tier',
      },
    ],
  },
];

const PLAN = 'src/native/plan.ts';

/**
 * Mutants of the native rule index's filters and per-decision state: each
 * filter skips lookups that cannot find a key, and the serverSource's forms
 * are kept once per decision. Each mutant loses candidates (or checks a rule
 * against another request's source) for some request.
 */
export const NATIVE_INDEX_MUTANTS: readonly SourceMutant[] = [
  {
    name: 'index-prefix-filter-on-last-unit',
    why: "the prefix keys' first-unit filter is tested with the value's last code unit",
    edits: [
      {
        file: PLAN,
        from: 'hasBit(this.prefixFirsts, codeAt(head, tail, 0))',
        to: 'hasBit(this.prefixFirsts, codeAt(head, tail, n - 1))',
      },
    ],
  },
  {
    name: 'index-suffix-filter-on-first-unit',
    why: "the suffix keys' last-unit filter is tested with the value's first code unit",
    edits: [
      {
        file: PLAN,
        from: 'hasBit(this.suffixLasts, codeAt(head, tail, n - 1))',
        to: 'hasBit(this.suffixLasts, codeAt(head, tail, 0))',
      },
    ],
  },
  {
    name: 'index-exact-length-off-by-one',
    why: "an exact key's length is filed one too long, so a value of its length is never looked up",
    edits: [
      { file: PLAN, from: 'setBit(this.exactLengths, key.length);', to: 'setBit(this.exactLengths, key.length + 1);' },
    ],
  },
  {
    name: 'index-tier-ends-swapped',
    why: "a prefix tier's ends filter is tested with the value's last code unit instead of the key's",
    edits: [
      {
        file: PLAN,
        from: 'if (!hasEnds(tier.ends, codeAt(head, tail, 0), codeAt(head, tail, length - 1))) continue;',
        to: 'if (!hasEnds(tier.ends, codeAt(head, tail, 0), codeAt(head, tail, n - 1))) continue;',
      },
    ],
  },
  {
    name: 'source-forms-kept',
    why: "a decision reuses the previous request's canonical serverSource",
    edits: [{ file: PLAN, from: '    this.parts = null;\n    this.forms = undefined;\n', to: '' }],
  },
  {
    name: 'plan-of-last-policy',
    why: 'the plan last asked for is returned whatever the policy',
    edits: [{ file: PLAN, from: 'if (policy === lastPolicy) return', to: 'if (lastPlan !== undefined) return' }],
  },
];

/**
 * Mutants of the escaping of strings printed into Rego. On the build path
 * the only string `regoString` prints is a fixed reason (a policy's strings
 * travel in data.json), so these are checked the way the escaping suite
 * checks `regoString`: literals of hostile strings evaluated by the real opa.
 */
export const ESCAPING_MUTANTS: readonly SourceMutant[] = [
  {
    name: 'quote-escape-dropped',
    why: 'a `"` ends the literal early',
    edits: [{ file: STRINGS, from: `  '"': '\\\\"',\n`, to: '' }],
  },
  {
    name: 'backslash-escape-dropped',
    why: 'a `\\` starts an escape of its own',
    edits: [{ file: STRINGS, from: `  '\\\\': '\\\\\\\\',\n`, to: '' }],
  },
  {
    name: 'newline-escape-dropped',
    why: 'a newline is printed as it is, splitting the literal over two lines',
    edits: [{ file: STRINGS, from: `  '\\n': '\\\\n',`, to: `  '\\n': '\\n',` }],
  },
  {
    name: 'astral-escaped-as-one-unit',
    why: 'a character outside the BMP is escaped as its first UTF-16 unit only',
    edits: [{ file: STRINGS, from: 'k < ch.length; k++', to: 'k < 1; k++' }],
  },
];

/** A copy of the shipped sources with a mutant applied, and a way to import its modules. */
export interface MutatedCopy {
  readonly root: string;
  /** Imports a module of the copy by its path under the package root, e.g. `src/difftest/run.ts`. */
  load<T>(file: string): Promise<T>;
  dispose(): Promise<void>;
}

/**
 * Copies `src/` (and `rego/` when the mutant edits it) to a temporary folder and applies the mutant's edits there.
 * Throws when an edit's text does not occur exactly once, so a mutant whose
 * target moved fails loudly instead of testing the unmutated code.
 */
export async function mutatedCopy(mutant: SourceMutant | undefined): Promise<MutatedCopy> {
  const root = await mkdtemp(join(tmpdir(), 'mcp-policy-mutant-'));
  try {
    await cp(join(ROOT, 'src'), join(root, 'src'), { recursive: true });
    // The copy finds wasm/, the pinned opa and its dependencies where the package has them, and rego/ too
    // unless the mutant edits it.
    const editsRego = (mutant?.edits ?? []).some((e) => e.file.startsWith('rego/'));
    if (editsRego) await cp(join(ROOT, 'rego'), join(root, 'rego'), { recursive: true });
    for (const name of ['node_modules', ...(editsRego ? [] : ['rego']), 'wasm', '.tools']) {
      await symlink(join(ROOT, name), join(root, name));
    }
    await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'mcp-policy', type: 'module' }));
    for (const edit of mutant?.edits ?? []) {
      const path = join(root, edit.file);
      const text = await readFile(path, 'utf8');
      const count = text.split(edit.from).length - 1;
      if (count !== 1) {
        throw new Error(`mutant ${mutant!.name}: ${JSON.stringify(edit.from)} occurs ${count} times in ${edit.file}`);
      }
      await writeFile(
        path,
        text.replace(edit.from, () => edit.to),
      );
    }
  } catch (e) {
    await rm(root, { recursive: true, force: true });
    throw e;
  }
  return {
    root,
    load: <T>(file: string) => import(pathToFileURL(join(root, file)).href) as Promise<T>,
    dispose: () => rm(root, { recursive: true, force: true }),
  };
}

/** The native engine of a mutated copy of the sources, under the mutant's name. */
export async function withNativeMutant<T>(
  mutant: SourceMutant | undefined,
  use: (engine: DiffEngine) => Promise<T>,
): Promise<T> {
  const copy = await mutatedCopy(mutant);
  try {
    type Engines = typeof import('../src/difftest/engines.js');
    type Native = typeof import('../src/engines/native.js');
    const { extrasOf, shippedDiffEngine } = await copy.load<Engines>('src/difftest/engines.ts');
    const { NativeEngine: Mutated } = await copy.load<Native>('src/engines/native.ts');
    return await use(
      shippedDiffEngine(mutant?.name ?? 'unmutated', (g) => Promise.resolve(new Mutated(g.policy, extrasOf(g)))),
    );
  } finally {
    await copy.dispose();
  }
}
