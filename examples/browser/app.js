/* global document, fetch, Response */
// The example page's logic: load a compiled bundle with mcp-policy/wasm and
// decide the request typed in the form. No server-side code is involved.
import { PortableWasmEngine } from 'mcp-policy/wasm';

const $ = (id) => document.getElementById(id);
let engine;

async function load(source, label) {
  $('status').textContent = `loading ${label}…`;
  try {
    if (source instanceof Response && !source.ok) throw new Error(`HTTP ${source.status}`);
    engine = await PortableWasmEngine.load(source);
    $('status').textContent = `loaded ${label} (revision ${engine.revision ?? 'unknown'})`;
    $('decide').disabled = false;
  } catch (e) {
    engine = undefined;
    $('decide').disabled = true;
    $('status').textContent = `cannot load ${label}: ${e.message} (${e.code ?? 'error'})`;
  }
}

function typedRequest() {
  const raw = $('raw').value.trim();
  if (raw !== '') return JSON.parse(raw);
  const request = {};
  for (const field of ['action', 'server', 'serverType', 'serverSource', 'transport', 'tool']) {
    const value = $(field).value;
    if (value !== '') request[field] = value;
  }
  return request;
}

$('bundle-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const file = $('bundle-file').files[0];
  if (file) await load(new Uint8Array(await file.arrayBuffer()), file.name);
  else await load(await fetch($('bundle-url').value), $('bundle-url').value);
});

$('request-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const out = $('decision');
  let decision;
  try {
    decision = engine.decideSync(typedRequest());
  } catch (e) {
    out.className = 'denied';
    out.textContent = `not a JSON request: ${e.message}`;
    return;
  }
  out.className = decision.allowed ? 'allowed' : 'denied';
  out.textContent = JSON.stringify(decision);
});

await load(await fetch($('bundle-url').value), $('bundle-url').value);
document.body.dataset.ready = 'true';
