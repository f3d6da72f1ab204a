/**
 * The playground page: an editor checked as the CLI checks, lint with
 * explain, requests decided natively (and by the compiled wasm bundle when
 * `mcp-policy playground` has opa), coverage, diff and shipping. Everything
 * but the opa-backed calls runs in the page, so the static build works offline.
 */
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { json } from '@codemirror/lang-json';
import { yaml } from '@codemirror/lang-yaml';
import { bracketMatching, foldGutter, HighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { type Diagnostic, lintGutter, lintKeymap, setDiagnostics } from '@codemirror/lint';
import { Compartment, EditorState } from '@codemirror/state';
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from '@codemirror/view';
import { tags } from '@lezer/highlight';
import { renderBox, type BoxDescription } from '../../src/analysis/region.js';
import type { Explanation } from '../../src/analysis/explain.js';
import type { Decision, Policy } from '../../src/policy/model.js';
import type { CheckedDocument } from '../../src/playground/model/documents.js';
import { toAdminSettings } from '../../src/playground/model/admin-settings.js';
import { decideNative, requestTemplate, toCaseTable, type SavedRequest } from '../../src/playground/model/requests.js';
import { explainView, type CoverageView, type LintView } from '../../src/playground/model/analysis.js';
import type { AnalysisJob, AnalysisResult, DiffOutcome } from './analysis-protocol.js';
import { schemaCompletion, schemaHover } from './schema-assist.js';

const SAMPLE = `{
  "version": 2,
  "default": "deny",
  "rules": [
    { "action": "load", "serverType": "registry", "serverSource": "docker.io/mcp/*", "allow": true },
    { "action": "invoke", "tools": ["delete_*"], "groups": ["platform"], "allow": true },
    { "action": "invoke", "tools": ["delete_*", "remove_*"], "deny": true, "reason": "No destructive tools" },
    { "action": "invoke", "allow": true }
  ]
}
`;

interface Status {
  opa: boolean;
  opaVersion?: string;
  initial?: { name: string; text: string };
}

interface SavedRow extends SavedRequest {
  native?: Decision;
  wasm?: Decision | string;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
};

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { className?: string; text?: string; attrs?: Record<string, string> } = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.text !== undefined) node.textContent = props.text;
  for (const [k, v] of Object.entries(props.attrs ?? {})) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function download(name: string, data: BlobPart, type: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = el('a', { attrs: { href: url, download: name } });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const compact = (v: unknown): string => JSON.stringify(v);
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

function decisionText(d: Decision): string {
  const who = d.rule === null ? 'default' : `rule ${d.rule}`;
  return `${d.allowed ? 'allow' : 'deny'} (${who}): ${d.reason}${d.error ? ` [error: ${d.error}]` : ''}`;
}

/** Engines agree when they would pass the differential tester: decision, rule, reason and whether it failed. */
function sameDecision(a: Decision, b: Decision): boolean {
  return a.allowed === b.allowed && a.rule === b.rule && a.reason === b.reason && !a.error === !b.error;
}

const WASM_UNAVAILABLE = 'needs `mcp-policy playground` with opa';

// ---- state ----

let status: Status = { opa: false };
let serverPresent = false;
// Until the worker's first answer the page knows nothing about the text.
let checked: CheckedDocument = { kind: 'policy', format: 'json', diagnostics: [] };
let lastGoodPolicy: Policy | undefined;
let saved: SavedRow[] = [];
let bundle: { revision: string; bytes: Uint8Array<ArrayBuffer> } | undefined;
let checkCount = 0;

// ---- editor ----

const language = new Compartment();
const highlight = HighlightStyle.define([
  { tag: tags.propertyName, color: 'var(--tok-key)' },
  { tag: [tags.string, tags.special(tags.string)], color: 'var(--tok-string)' },
  { tag: [tags.number, tags.bool, tags.null, tags.atom], color: 'var(--tok-atom)' },
  { tag: [tags.comment, tags.meta], color: 'var(--tok-comment)', fontStyle: 'italic' },
  { tag: [tags.punctuation, tags.bracket, tags.separator], color: 'var(--fg-muted)' },
]);
const theme = EditorView.theme({
  '&': { backgroundColor: 'var(--bg-input)', color: 'var(--fg)', border: '1px solid var(--border)' },
  '.cm-content': { caretColor: 'var(--fg)' },
  '.cm-gutters': { backgroundColor: 'var(--bg-muted)', color: 'var(--fg-muted)', border: 'none' },
  '.cm-activeLine': { backgroundColor: 'var(--bg-active)' },
  '.cm-activeLineGutter': { backgroundColor: 'var(--bg-active)' },
  '&.cm-focused .cm-selectionBackground, .cm-selectionBackground': { backgroundColor: 'var(--bg-selection)' },
  '.cm-tooltip': { backgroundColor: 'var(--bg-muted)', color: 'var(--fg)', border: '1px solid var(--border)' },
});

function languageFor(text: string) {
  return /^\s*[{[]/.test(text) || text.trim() === '' ? json() : yaml();
}

let recheckTimer: ReturnType<typeof setTimeout> | undefined;
let currentLanguage = languageFor(SAMPLE).language.name;
const view = new EditorView({
  parent: $('editor'),
  state: EditorState.create({
    doc: SAMPLE,
    extensions: [
      lineNumbers(),
      highlightActiveLineGutter(),
      foldGutter(),
      lintGutter(),
      history(),
      drawSelection(),
      indentOnInput(),
      bracketMatching(),
      closeBrackets(),
      highlightActiveLine(),
      syntaxHighlighting(highlight),
      language.of(languageFor(SAMPLE)),
      autocompletion({ override: [schemaCompletion] }),
      schemaHover,
      theme,
      EditorView.lineWrapping,
      keymap.of([
        ...closeBracketsKeymap,
        ...defaultKeymap,
        ...historyKeymap,
        ...completionKeymap,
        ...lintKeymap,
        indentWithTab,
      ]),
      EditorView.contentAttributes.of({
        'aria-label': 'Policy editor',
        'aria-describedby': 'editor-help',
      }),
      EditorView.updateListener.of((u) => {
        if (!u.docChanged) return;
        dirty = true;
        markPending();
        clearTimeout(recheckTimer);
        recheckTimer = setTimeout(() => void recheck(), 150);
      }),
    ],
  }),
});

function setEditorText(text: string): void {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

// ---- checking, in the analysis worker ----

let worker: Worker | undefined;
let jobSeq = 0;
let inFlight: number | undefined;
let waiting: Array<() => void> = [];
/** Set while an edit waits out the pause before its analysis is sent. */
let dirty = false;

function markPending(): void {
  document.body.dataset.checked = 'pending';
  $('analysis-status').textContent = 'checking…';
}

function startWorker(): Worker {
  const w = new Worker('worker.js', { name: 'analysis', type: 'module' });
  w.onmessage = (e: MessageEvent<AnalysisResult>) => applyResult(e.data);
  w.onerror = (e) => {
    e.preventDefault();
    if (w !== worker) return;
    worker = undefined;
    applyResult({ id: jobSeq, failure: e.message || 'the analysis worker stopped' });
  };
  return w;
}

/**
 * Sends the editor text, the baseline and the saved requests to the worker.
 * A job still running is for text that has changed since, so its worker is
 * ended rather than left to finish work nobody will see. Resolves once this
 * job (or a later one) is shown.
 */
function analyse(): Promise<void> {
  clearTimeout(recheckTimer);
  clearTimeout(baselineTimer);
  dirty = false;
  const id = ++jobSeq;
  markPending();
  $('saved').dataset.state = 'pending';
  const job: AnalysisJob = {
    id,
    text: view.state.doc.toString(),
    baseline: $<HTMLTextAreaElement>('baseline').value,
    requests: saved.map((r) => r.request),
  };
  if (inFlight !== undefined && worker) {
    worker.terminate();
    worker = undefined;
  }
  worker ??= startWorker();
  worker.postMessage(job);
  inFlight = id;
  document.body.dataset.analysing = String(id);
  return new Promise((resolve) => waiting.push(resolve));
}

/** Resolves when the text on screen has been analysed. */
function settled(): Promise<void> {
  if (dirty) return recheck();
  return inFlight === undefined ? Promise.resolve() : new Promise((resolve) => waiting.push(resolve));
}

function recheck(): Promise<void> {
  const text = view.state.doc.toString();
  const wanted = languageFor(text);
  if (wanted.language.name !== currentLanguage) {
    currentLanguage = wanted.language.name;
    view.dispatch({ effects: language.reconfigure(wanted) });
  }
  return analyse();
}

function applyResult(result: AnalysisResult): void {
  // An answer to an older job describes text that is no longer there.
  if (result.id !== jobSeq) return;
  inFlight = undefined;
  delete document.body.dataset.analysing;
  // Edited since this job was sent: its ranges would land in the wrong places, and the next job is on its way.
  if (dirty) return;
  if ('failure' in result) {
    $('analysis-status').textContent = `analysis failed: ${result.failure}`;
    $('saved').dataset.state = 'done';
  } else {
    const text = view.state.doc.toString();
    checked = result.checked;
    if (checked.policy) lastGoodPolicy = checked.policy;
    const diagnostics: Diagnostic[] = checked.diagnostics.map((d) => ({
      from: Math.min(d.from, text.length),
      to: Math.min(Math.max(d.to, d.from), text.length),
      severity: d.severity,
      source: d.pointer || '/',
      message: `${d.message} (${d.code})`,
    }));
    view.dispatch(setDiagnostics(view.state, diagnostics));
    renderProblems();
    renderLint(result.lint);
    saved.forEach((row, i) => (row.native = result.coverage?.requests[i]?.decision));
    void decideSaved();
    renderCoverage(result.coverage);
    renderDiff(result.diff);
    bundle = undefined;
    $<HTMLButtonElement>('download-bundle').disabled = true;
    $('analysis-status').textContent = 'checked';
  }
  checkCount++;
  document.body.dataset.checked = String(checkCount);
  const done = waiting;
  waiting = [];
  for (const resolve of done) resolve();
}

function renderProblems(): void {
  const list = $('problems');
  list.replaceChildren();
  const errors = checked.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = checked.diagnostics.length - errors;
  const what = checked.kind === 'admin-settings' ? 'admin-settings.json' : 'policy';
  const fmt = checked.format.toUpperCase();
  if (checked.policy) {
    const p = checked.policy;
    $('document-summary').textContent =
      `valid ${fmt} ${what}, version ${p.version}: ${p.rules.length} rules, default ${p.default}` +
      (warnings ? `, ${plural(warnings, 'warning')}` : '');
  } else {
    $('document-summary').textContent = `${fmt} ${what}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
  }
  if (checked.diagnostics.length === 0) list.append(el('li', { text: 'no problems' }));
  for (const d of checked.diagnostics) {
    const item = el(
      'li',
      { className: d.severity, attrs: { 'data-line': String(d.line), 'data-code': d.code } },
      el('button', {
        text: `line ${d.line}, column ${d.column}: ${d.severity} ${d.pointer || '/'}: ${d.message} (${d.code})`,
        attrs: { type: 'button' },
      }),
    );
    item.querySelector('button')!.addEventListener('click', () => {
      view.dispatch({ selection: { anchor: d.from, head: d.to }, scrollIntoView: true });
      view.focus();
    });
    list.append(item);
  }
}

// ---- lint and explain ----

function renderLint(lint: LintView | undefined): void {
  const list = $('lint');
  list.replaceChildren();
  if (!checked.policy || !lint) {
    list.append(el('li', { text: 'fix the problems above to lint the policy' }));
    return;
  }
  const policy = checked.policy;
  const findings = lint.findings;
  if (findings.length === 0) list.append(el('li', { text: 'no findings' }));
  for (const f of findings) {
    const witness = f.witnessRequest ?? f.witness;
    const text = `${f.severity} ${f.code} at ${f.path}: ${f.message}`;
    const attrs = { 'data-code': f.code, 'data-path': f.path };
    if (witness === undefined) {
      // Nothing to explain without a request, so it is text rather than a control that does nothing.
      list.append(el('li', {}, el('span', { className: `finding ${f.severity}`, attrs, text })));
      continue;
    }
    const button = el('button', { className: `finding ${f.severity}`, attrs: { type: 'button', ...attrs }, text });
    button.addEventListener('click', () => {
      showExplain(policy, witness, `${f.code} at ${f.path}`);
      $('explain-heading').focus();
    });
    const item = el('li', {}, button, el('code', { className: 'witness', text: `e.g. ${compact(witness)}` }));
    list.append(item);
  }
}

function showExplain(policy: Policy, request: unknown, why: string): void {
  const ex: Explanation = explainView(policy, request);
  const box = $('explain');
  const rows = ex.rules.map((r) => {
    const result = r.decided ? 'decided' : r.matched ? 'matched (not consulted)' : 'no match';
    const failed = r.failed.map((m) => `${m.field}: ${m.message}`).join('; ');
    return el(
      'tr',
      {
        className: r.decided ? 'decided' : r.matched ? 'matched' : 'unmatched',
        attrs: { 'data-rule': String(r.rule) },
      },
      el('th', { text: `rule ${r.rule}`, attrs: { scope: 'row' } }),
      el('td', { text: result }),
      el('td', { text: failed }),
    );
  });
  box.replaceChildren(
    el('p', { text: `for ${why}: ` }, el('code', { text: compact(request) })),
    ...(ex.error ? [el('p', { className: 'error', text: `invalid request: ${ex.error}` })] : []),
    el(
      'table',
      { attrs: { id: 'explain-table' } },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          el('th', { text: 'rule', attrs: { scope: 'col' } }),
          el('th', { text: 'result', attrs: { scope: 'col' } }),
          el('th', { text: 'which field or condition failed', attrs: { scope: 'col' } }),
        ),
      ),
      el('tbody', {}, ...rows),
    ),
    el('p', { attrs: { id: 'explain-decision' }, text: `decision: ${decisionText(ex.decision)}` }),
  );
}

// ---- requests ----

const FORM_FIELDS = ['action', 'server', 'serverType', 'serverSource', 'transport', 'tool', 'resource'] as const;
const HINTS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const;

/** `name=value` lines as claims: a name given once is a string, a name repeated collects a list. */
function parseClaims(text: string): Record<string, string | string[]> {
  const claims: Record<string, string | string[]> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    const name = (eq < 0 ? line : line.slice(0, eq)).trim();
    const value = eq < 0 ? '' : line.slice(eq + 1).trim();
    const had = claims[name];
    claims[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
  }
  return claims;
}

function claimsText(claims: unknown): string {
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return '';
  return Object.entries(claims as Record<string, unknown>)
    .flatMap(([name, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${name}=${String(x)}`))
    .join('\n');
}

function rawRequest(): unknown {
  return JSON.parse($<HTMLTextAreaElement>('raw-request').value) as unknown;
}

function formToRaw(): void {
  let base: Record<string, unknown> = {};
  try {
    const v = rawRequest();
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) base = v as Record<string, unknown>;
  } catch {
    // the raw field is being edited into shape; the form starts it over
  }
  for (const f of FORM_FIELDS) {
    const value = $<HTMLInputElement | HTMLSelectElement>(`f-${f}`).value;
    if (value === '') delete base[f];
    else base[f] = value;
  }
  const argsText = $<HTMLTextAreaElement>('f-arguments').value;
  const argsError = $('f-arguments-error');
  argsError.textContent = '';
  if (argsText.trim() === '') delete base.arguments;
  else {
    try {
      base.arguments = JSON.parse(argsText) as unknown;
    } catch (e) {
      // The request keeps its last arguments until the field is JSON again.
      argsError.textContent = `arguments are not JSON: ${(e as Error).message}`;
    }
  }
  const annotations = { ...((base.annotations as Record<string, unknown> | undefined) ?? {}) };
  for (const hint of HINTS) {
    const value = $<HTMLSelectElement>(`f-${hint}`).value;
    if (value === '') delete annotations[hint];
    else annotations[hint] = value === 'true';
  }
  if (Object.keys(annotations).length) base.annotations = annotations;
  else delete base.annotations;
  const claims = parseClaims($<HTMLTextAreaElement>('f-claims').value);
  const sub = $<HTMLInputElement>('f-sub').value;
  const groups = $<HTMLInputElement>('f-groups')
    .value.split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
  const principal = { ...((base.principal as Record<string, unknown> | undefined) ?? {}) };
  if (sub) principal.sub = sub;
  else delete principal.sub;
  if (groups.length) principal.groups = groups;
  else delete principal.groups;
  if (Object.keys(claims).length) principal.claims = claims;
  else delete principal.claims;
  if (Object.keys(principal).length) base.principal = principal;
  else delete base.principal;
  $<HTMLTextAreaElement>('raw-request').value = JSON.stringify(base);
}

function rawToForm(): void {
  let v: Record<string, unknown>;
  try {
    const parsed = rawRequest();
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return;
    v = parsed as Record<string, unknown>;
  } catch {
    return;
  }
  for (const f of FORM_FIELDS) {
    $<HTMLInputElement | HTMLSelectElement>(`f-${f}`).value = typeof v[f] === 'string' ? (v[f] as string) : '';
  }
  const principal = (v.principal ?? {}) as { sub?: unknown; groups?: unknown };
  $<HTMLInputElement>('f-sub').value = typeof principal.sub === 'string' ? principal.sub : '';
  $<HTMLInputElement>('f-groups').value = Array.isArray(principal.groups) ? principal.groups.join(', ') : '';
  $<HTMLTextAreaElement>('f-claims').value = claimsText((principal as { claims?: unknown }).claims);
  $<HTMLTextAreaElement>('f-arguments').value = v.arguments === undefined ? '' : JSON.stringify(v.arguments);
  $('f-arguments-error').textContent = '';
  const annotations = (typeof v.annotations === 'object' && v.annotations !== null ? v.annotations : {}) as Record<
    string,
    unknown
  >;
  for (const hint of HINTS) {
    const value = annotations[hint];
    $<HTMLSelectElement>(`f-${hint}`).value = typeof value === 'boolean' ? String(value) : '';
  }
}

/** The policy as the server compiles it: always the JSON of the inner policy, whatever the editor holds. */
function policyText(): string | undefined {
  return checked.policy && checked.policyJson !== undefined ? JSON.stringify(checked.policyJson) : undefined;
}

/** The server takes at most this many requests a call. */
const DECIDE_BATCH = 1000;

async function decideWasm(requests: unknown[]): Promise<Array<Decision | string>> {
  const text = policyText();
  if (!status.opa || text === undefined) return requests.map(() => WASM_UNAVAILABLE);
  const out: Array<Decision | string> = [];
  for (let i = 0; i < requests.length; i += DECIDE_BATCH) {
    out.push(...(await decideWasmBatch(text, requests.slice(i, i + DECIDE_BATCH))));
  }
  return out;
}

async function decideWasmBatch(text: string, requests: unknown[]): Promise<Array<Decision | string>> {
  try {
    const res = await fetch('api/decide', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text, requests }),
    });
    const body = (await res.json()) as { decisions?: Decision[]; error?: string; message?: string; errors?: unknown };
    if (!res.ok || !body.decisions) {
      const why = body.message ?? body.error ?? `HTTP ${res.status}`;
      return requests.map(() => `cannot decide: ${why}`);
    }
    return body.decisions;
  } catch (e) {
    return requests.map(() => `cannot decide: ${(e as Error).message}`);
  }
}

function showDisagreement(messages: string[]): void {
  const box = $('disagreement');
  box.hidden = messages.length === 0;
  box.textContent = messages.length ? `ENGINES DISAGREE: ${messages.join('; ')}` : '';
  document.body.classList.toggle('disagree', messages.length > 0);
}

let decideSeq = 0;
async function decideCurrent(): Promise<void> {
  const seq = ++decideSeq;
  const nativeOut = $('native-decision');
  const wasmOut = $('wasm-decision');
  $('decision').dataset.state = 'pending';
  await settled();
  if (seq !== decideSeq) return;
  let request: unknown;
  try {
    request = rawRequest();
  } catch (e) {
    nativeOut.textContent = `the request is not JSON: ${(e as Error).message}`;
    wasmOut.textContent = '';
    $('decision').dataset.state = 'done';
    return;
  }
  const policy = checked.policy;
  if (!policy) {
    nativeOut.textContent = 'the policy has errors: fix them to decide';
    wasmOut.textContent = '';
    $('decision').dataset.state = 'done';
    return;
  }
  const native = decideNative(policy, request);
  nativeOut.textContent = decisionText(native);
  nativeOut.dataset.decision = compact(native);
  wasmOut.textContent = status.opa ? 'deciding…' : WASM_UNAVAILABLE;
  delete wasmOut.dataset.decision;
  showExplain(policy, request, 'this request');
  const [wasm] = await decideWasm([request]);
  if (seq !== decideSeq) return;
  if (typeof wasm === 'string') {
    wasmOut.textContent = wasm;
    showDisagreement([]);
  } else {
    wasmOut.textContent = decisionText(wasm!);
    wasmOut.dataset.decision = compact(wasm);
    showDisagreement(
      sameDecision(native, wasm!) ? [] : [`native says ${decisionText(native)}, wasm says ${decisionText(wasm!)}`],
    );
  }
  $('decision').dataset.state = 'done';
}

let savedSeq = 0;
/** Shows the native decisions the worker made and asks the local server for the wasm ones. */
async function decideSaved(): Promise<void> {
  const seq = ++savedSeq;
  const policy = checked.policy;
  $('saved').dataset.state = 'pending';
  for (const row of saved) row.wasm = undefined;
  renderSaved();
  if (policy && saved.length > 0) {
    const wasm = await decideWasm(saved.map((r) => r.request));
    if (seq !== savedSeq) return;
    saved.forEach((r, i) => (r.wasm = wasm[i]));
    renderSaved();
  }
  $('saved').dataset.state = 'done';
}

function renderSaved(): void {
  const body = $('saved').querySelector('tbody')!;
  body.replaceChildren();
  const disagree: string[] = [];
  saved.forEach((row, i) => {
    const wasmCell = el('td', { className: 'wasm' });
    if (row.wasm === undefined)
      wasmCell.textContent = checked.policy ? (status.opa ? 'deciding…' : WASM_UNAVAILABLE) : '';
    else if (typeof row.wasm === 'string') wasmCell.textContent = row.wasm;
    else {
      wasmCell.textContent = decisionText(row.wasm);
      wasmCell.dataset.decision = compact(row.wasm);
      if (row.native && !sameDecision(row.native, row.wasm)) {
        disagree.push(`saved request ${i}: native ${decisionText(row.native)}, wasm ${decisionText(row.wasm)}`);
      }
    }
    const nativeCell = el('td', { className: 'native', text: row.native ? decisionText(row.native) : '' });
    if (row.native) nativeCell.dataset.decision = compact(row.native);
    const remove = el('button', {
      text: 'remove',
      attrs: { type: 'button', 'aria-label': `remove saved request ${i}` },
    });
    remove.addEventListener('click', () => {
      saved.splice(i, 1);
      void analyse();
    });
    const load = el('button', { text: 'try', attrs: { type: 'button', 'aria-label': `try saved request ${i}` } });
    load.addEventListener('click', () => {
      $<HTMLTextAreaElement>('raw-request').value = JSON.stringify(row.request);
      rawToForm();
      void decideCurrent();
    });
    body.append(
      el(
        'tr',
        { className: row.native ? (row.native.allowed ? 'allow' : 'deny') : '' },
        el('th', { text: String(i), attrs: { scope: 'row' } }),
        el('td', { text: row.note ?? '' }),
        el('td', {}, el('code', { text: compact(row.request) })),
        nativeCell,
        wasmCell,
        el('td', {}, load, remove),
      ),
    );
  });
  if (disagree.length) showDisagreement(disagree);
  $('saved-status').textContent = `${saved.length} saved requests`;
}

function renderCoverage(cov: CoverageView | undefined): void {
  const box = $('coverage');
  const policy = checked.policy;
  if (!policy || !cov) {
    box.replaceChildren(el('p', { text: 'fix the problems above to see coverage' }));
    return;
  }
  const head = el(
    'tr',
    {},
    ...['rule', 'decides', 'saved requests it decided', 'status'].map((t) =>
      el('th', { text: t, attrs: { scope: 'col' } }),
    ),
  );
  const row = (name: string, key: string, decides: string, requests: number[], status: string, cls: string) =>
    el(
      'tr',
      { className: cls, attrs: { 'data-rule': key } },
      el('th', { text: name, attrs: { scope: 'row' } }),
      el('td', { text: decides }),
      el('td', {
        className: 'count',
        text: String(requests.length),
        attrs: { title: requests.map((i) => `#${i}`).join(' ') },
      }),
      el('td', { className: 'state', text: status }),
    );
  const body = el('tbody');
  for (const r of cov.rules) {
    const rule = policy.rules[r.rule]!;
    const status =
      r.status === 'exercised'
        ? '✓ exercised'
        : r.status === 'unreachable'
          ? '✗ unreachable (shadowed)'
          : `✗ not exercised${r.inexact ? ' (may be unreachable: argument conditions not analysed exactly)' : ''}`;
    const cls = r.status === 'exercised' ? 'reached' : r.status === 'unreachable' ? 'unreachable' : 'not-reached';
    body.append(
      row(
        `rule ${r.rule}`,
        String(r.rule),
        `${rule.allow ? 'allow' : 'deny'}${rule.reason ? `: ${rule.reason}` : ''}`,
        r.requests,
        status,
        cls,
      ),
    );
  }
  const byDefault = cov.byDefault;
  body.append(
    row(
      'default',
      'default',
      policy.default,
      byDefault,
      byDefault.length > 0 ? '✓ exercised' : '✗ not exercised',
      byDefault.length > 0 ? 'reached' : 'not-reached',
    ),
  );
  box.replaceChildren(
    el('table', { attrs: { id: 'coverage-table' } }, el('thead', {}, head), body),
    el('p', {
      attrs: { id: 'coverage-unseen' },
      text: cov.unseen.length ? `outcomes never seen: ${cov.unseen.join(', ')}` : 'every outcome was seen',
    }),
  );
}

// ---- diff ----

interface DiffChangeShape {
  kind: string;
  old: { rule: number | null; allowed: boolean; reason?: string; invalid?: true };
  new: { rule: number | null; allowed: boolean; reason?: string; invalid?: true };
  regions: BoxDescription[];
  boxes: number;
  witness?: unknown;
  possible?: true;
}

function sideText(s: DiffChangeShape['old']): string {
  if (s.invalid) return 'invalid request';
  return `${s.allowed ? 'allow' : 'deny'} by ${s.rule === null ? 'the default' : `rule ${s.rule}`}${s.reason ? ` (${s.reason})` : ''}`;
}

const KIND_TEXT: Record<string, string> = {
  now_denied: 'now denied',
  now_allowed: 'now allowed',
  rule_changed: 'decided by another rule',
};

function renderDiff(outcome: DiffOutcome): void {
  const box = $('diff');
  if (outcome.kind === 'no-baseline') {
    box.replaceChildren(el('p', { text: 'paste a baseline policy to compare with' }));
    return;
  }
  if (outcome.kind === 'baseline-errors') {
    box.replaceChildren(
      el('p', { className: 'error', text: 'the baseline has errors:' }),
      el('ul', {}, ...outcome.errors.map((d) => el('li', { text: `line ${d.line}: ${d.message} (${d.code})` }))),
    );
    return;
  }
  if (outcome.kind === 'no-policy') {
    box.replaceChildren(el('p', { text: 'fix the problems above to compare with the baseline' }));
    return;
  }
  const result = outcome.diff as unknown as { same: boolean; changes: DiffChangeShape[] };
  if (result.same) {
    box.replaceChildren(el('p', { attrs: { id: 'diff-same' }, text: 'no request is decided differently' }));
    return;
  }
  const list = el('ol', { attrs: { id: 'diff-changes' } });
  for (const c of result.changes) {
    const item = el(
      'li',
      { className: `change ${c.kind}`, attrs: { 'data-kind': c.kind } },
      el('strong', { text: `${KIND_TEXT[c.kind] ?? c.kind}${c.possible ? ' (possibly)' : ''}` }),
      ` — was ${sideText(c.old)}, now ${sideText(c.new)}`,
      el(
        'ul',
        { className: 'regions' },
        ...c.regions.map((r) => el('li', { className: 'region', text: `where ${renderBox(r)}` })),
        ...(c.boxes > c.regions.length ? [el('li', { text: `and ${c.boxes - c.regions.length} more regions` })] : []),
      ),
    );
    if (c.witness !== undefined) item.append(el('code', { className: 'witness', text: `e.g. ${compact(c.witness)}` }));
    list.append(item);
  }
  box.replaceChildren(list);
}

// ---- ship it ----

function currentPolicyJson(): unknown {
  if (!checked.policy || checked.policyJson === undefined) {
    $('ship-status').textContent = 'fix the problems above first: an invalid policy is not shipped';
    return undefined;
  }
  return checked.policyJson;
}

async function compileBundle(): Promise<void> {
  const text = policyText();
  if (text === undefined) {
    $('ship-status').textContent = 'fix the problems above first: an invalid policy is not compiled';
    return;
  }
  $('ship-status').textContent = 'compiling…';
  try {
    const res = await fetch('api/compile', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
    });
    const body = (await res.json()) as {
      revision?: string;
      bundle?: string;
      errors?: Array<{ message: string; code: string }>;
      message?: string;
    };
    if (!res.ok || !body.revision || !body.bundle) {
      const why =
        body.errors?.map((e) => `${e.message} (${e.code})`).join('; ') ?? body.message ?? `HTTP ${res.status}`;
      $('ship-status').textContent = `cannot compile: ${why}`;
      return;
    }
    const bytes = Uint8Array.from(atob(body.bundle), (c) => c.charCodeAt(0));
    bundle = { revision: body.revision, bytes };
    $<HTMLButtonElement>('download-bundle').disabled = false;
    $('ship-status').textContent = `compiled: revision ${body.revision} (${bytes.length} bytes)`;
  } catch (e) {
    $('ship-status').textContent = `cannot compile: ${(e as Error).message}`;
  }
}

// ---- wiring ----

function wire(): void {
  for (const f of [...FORM_FIELDS, ...HINTS, 'sub', 'groups', 'claims', 'arguments']) {
    $(`f-${f}`).addEventListener('input', formToRaw);
  }
  $('raw-request').addEventListener('input', rawToForm);
  $('request-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void decideCurrent();
  });
  $('decide').addEventListener('click', () => void decideCurrent());
  $('save-request').addEventListener('click', () => {
    try {
      const request = rawRequest();
      const note = $<HTMLInputElement>('request-note').value.trim();
      saved.push(note ? { note, request } : { request });
      $<HTMLInputElement>('request-note').value = '';
      void analyse();
    } catch (e) {
      $('saved-status').textContent = `cannot save: the request is not JSON: ${(e as Error).message}`;
    }
  });
  $('add-bulk').addEventListener('click', () => {
    const lines = $<HTMLTextAreaElement>('bulk-requests').value.split('\n');
    const added: SavedRow[] = [];
    for (const [i, line] of lines.entries()) {
      if (line.trim() === '') continue;
      try {
        added.push({ request: JSON.parse(line) as unknown });
      } catch (e) {
        $('saved-status').textContent = `line ${i + 1} is not JSON: ${(e as Error).message}; nothing added`;
        return;
      }
    }
    saved.push(...added);
    $<HTMLTextAreaElement>('bulk-requests').value = '';
    void analyse();
  });
  $('clear-saved').addEventListener('click', () => {
    saved = [];
    void analyse();
  });
  $('download-cases').addEventListener('click', async () => {
    await settled();
    const policyJson = currentPolicyJson();
    if (policyJson === undefined || !checked.policy) return;
    const policy = checked.policy;
    const rows = saved.map(({ note, request }) => (note ? { note, request } : { request }));
    download(
      'cases.json',
      toCaseTable(
        policyJson,
        rows,
        rows.map((r) => decideNative(policy, r.request)),
      ),
      'application/json',
    );
  });
  $('baseline').addEventListener('input', () => {
    dirty = true;
    markPending();
    clearTimeout(baselineTimer);
    baselineTimer = setTimeout(() => void analyse(), 150);
  });
  $('baseline-from-current').addEventListener('click', () => {
    $<HTMLTextAreaElement>('baseline').value = view.state.doc.toString();
    void analyse();
  });
  $('download-policy').addEventListener('click', async () => {
    await settled();
    const policyJson = currentPolicyJson();
    if (policyJson !== undefined)
      download('policy.json', `${JSON.stringify(policyJson, null, 2)}\n`, 'application/json');
  });
  $('download-admin-settings').addEventListener('click', async () => {
    await settled();
    const policyJson = currentPolicyJson();
    if (policyJson === undefined) return;
    const locked = $<HTMLInputElement>('locked').checked;
    download('admin-settings.json', toAdminSettings(policyJson, { locked }), 'application/json');
    $('ship-status').textContent = `admin-settings.json downloaded (${locked ? 'locked' : 'not locked'})`;
  });
  $('import-file').addEventListener('change', async () => {
    const file = $<HTMLInputElement>('import-file').files?.[0];
    if (!file) return;
    const text = await file.text();
    setEditorText(text);
    await recheck();
    if (checked.kind === 'admin-settings') $<HTMLInputElement>('locked').checked = checked.locked === true;
    $('ship-status').textContent = `imported ${file.name}`;
  });
  $('compile').addEventListener('click', () => void settled().then(compileBundle));
  $('download-bundle').addEventListener('click', () => {
    if (bundle) download('bundle.tar.gz', bundle.bytes, 'application/gzip');
  });
}
let baselineTimer: ReturnType<typeof setTimeout> | undefined;

async function start(): Promise<void> {
  wire();
  try {
    const res = await fetch('api/status');
    if (res.ok && (res.headers.get('content-type') ?? '').includes('json')) {
      status = (await res.json()) as Status;
      serverPresent = true;
    }
  } catch {
    // a static file server (or none): everything native
  }
  $('server-status').textContent = serverPresent
    ? status.opa
      ? `local server with opa ${status.opaVersion ?? ''}: native and wasm decisions, bundles`.replace('  ', ' ')
      : 'local server without opa: native decisions only'
    : 'static build: everything runs in this page; wasm decisions and bundles need `mcp-policy playground` with opa';
  $<HTMLButtonElement>('compile').disabled = !status.opa;
  if (status.initial) {
    setEditorText(status.initial.text);
    $<HTMLTextAreaElement>('baseline').value = status.initial.text;
  }
  await recheck();
  const template = lastGoodPolicy ? requestTemplate(lastGoodPolicy) : { action: 'invoke' };
  $<HTMLTextAreaElement>('raw-request').value = JSON.stringify(template);
  rawToForm();
  document.body.dataset.ready = 'true';
}

void start();
