// Threads in the model worker (issue 31, feasibility spike): B.Score in the model worker in
// headless Chromium, the one-thread build against the threaded one (scripts/build-threaded.sh) in
// the same browser, served WITH Cross-Origin-Opener-Policy/Cross-Origin-Embedder-Policy (so the
// page is cross-origin isolated), and once WITHOUT them to show what the threaded build does there.
//
// Work: (1) the tests' tiny RoBERTa fixture (crates/model/tests/fixtures/bertscore, layer 3, its
// 401 pairs at batch size 64): every F1 of every variant against bert_score's (expected.jsonl,
// tolerance 1e-5 as tests/e2e/bertscore.test.mjs) and against the first variant's; the model
// check's forward pass, the tiny Idefics3 fixture's prefill logits, against transformers'
// (reference.safetensors, tolerance 1e-3 as tests/e2e/model.test.mjs) and the first variant's; (2) a
// mid-size random-weight RoBERTa written here (hidden 512, FFN 2048, 8 heads, 4 layers, the
// fixture's tokenizer; seeded, so every run scores the same model), large enough that burn's flex
// backend splits its matmuls over threads: the first 128 fixture pairs, two scorings per fresh
// worker (the first includes V8's tier-up), timed from the request to `bert_score_done`.
// Variants: the one-thread build, the threaded build with a pool of 1, and with a pool of
// navigator.hardwareConcurrency. RUNS rounds (default 3), the variants' order alternating.
//
// Usage: [RUNS=3] [PAIRS=128] node scripts/bench_threads_browser.mjs ONE_THREAD_DIR|- THREADED_DIR
//   (RUNS=0: the parity checks only)
//   ONE_THREAD_DIR: wasm-bindgen --target web output of the one-thread model worker
//   (scripts/build-threaded.sh --one-thread DIR); THREADED_DIR: scripts/build-threaded.sh DIR.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { launch, ROOT, MODEL_FIXTURES } from '../tests/e2e/harness.mjs';

// ONE_THREAD_DIR `-`: the threaded build's two pools only.
const [oneArg, threadedArg] = process.argv.slice(2);
const oneDir = oneArg && oneArg !== '-' ? path.resolve(oneArg) : null;
const threadedDir = threadedArg && path.resolve(threadedArg);
if (!oneArg || !threadedDir) {
  console.error('usage: node scripts/bench_threads_browser.mjs ONE_THREAD_DIR THREADED_DIR');
  process.exit(2);
}
const RUNS = Number(process.env.RUNS || 3);
const PAIRS = Number(process.env.PAIRS || 128);
const TOLERANCE = 1e-5;
const TINY = path.join(MODEL_FIXTURES, 'bertscore');
const expected = fs.readFileSync(path.join(TINY, 'expected.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

// The mid-size model: the fixture's tensor names, widened; weights N(0, 0.02²)-ish from a seeded
// generator, LayerNorm weight 1 and bias 0.
const MID = path.join(process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target'), 'bench-threads/roberta-mid');
function writeMidModel() {
  if (fs.existsSync(path.join(MID, 'model.safetensors'))) return;
  fs.mkdirSync(MID, { recursive: true });
  const config = JSON.parse(fs.readFileSync(path.join(TINY, 'config.json'), 'utf8'));
  const hidden = 512;
  const ffn = 2048;
  Object.assign(config, { hidden_size: hidden, intermediate_size: ffn, num_attention_heads: 8, num_hidden_layers: 4 });
  fs.writeFileSync(path.join(MID, 'config.json'), JSON.stringify(config, null, 2));
  for (const f of ['vocab.json', 'merges.txt', 'tokenizer_config.json']) fs.copyFileSync(path.join(TINY, f), path.join(MID, f));
  const src = fs.readFileSync(path.join(TINY, 'model.safetensors'));
  const header = JSON.parse(src.subarray(8, 8 + Number(src.readBigUInt64LE(0))));
  const widen = (d) => (d === 32 ? hidden : d === 64 ? ffn : d);
  let seed = 12345;
  const uniform = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const out = { __metadata__: { format: 'pt' } };
  const parts = [];
  let offset = 0;
  for (const name of Object.keys(header).filter((k) => k !== '__metadata__').sort()) {
    const shape = header[name].shape.map(widen);
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const layerNorm = name.includes('LayerNorm');
    for (let i = 0; i < values.length; i += 1) {
      values[i] = layerNorm ? (name.endsWith('weight') ? 1 : 0) : (uniform() - 0.5) * 0.07;
    }
    const bytes = Buffer.from(values.buffer);
    out[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    parts.push(bytes);
  }
  let json = Buffer.from(JSON.stringify(out));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(path.join(MID, 'model.safetensors'), Buffer.concat([size, json, ...parts]));
}
writeMidModel();

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
let isolate = true;
const roots = { ...(oneDir ? { one: oneDir } : {}), threaded: threadedDir, tiny: TINY, mid: MID, vlm: path.join(MODEL_FIXTURES, 'tiny-idefics3') };
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const headers = isolate ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {};
  if (url.pathname === '/') {
    res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end('<!doctype html><title>threads bench</title>');
    return;
  }
  const [, top, ...rest] = decodeURIComponent(url.pathname).split('/');
  let file = roots[top] && path.join(roots[top], ...rest);
  if (top === 'one' && rest.join('/') === 'entry.js') {
    // The one-thread build's ES-module entry: instantiating the wasm runs its `main`, the loop.
    res.writeHead(200, { ...headers, 'content-type': 'text/javascript' }).end("import init from './medhall-model-worker.js';\nawait init();\n");
    return;
  }
  if (!file || !file.startsWith(roots[top]) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    res.writeHead(404, headers).end();
    return;
  }
  res.writeHead(200, { ...headers, 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
  res.end(fs.readFileSync(file));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}/`;

const browser = await launch();
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
console.error(`load average at the start: ${load()} (${os.cpus().length} CPUs)`);

/** CPU seconds (user + system) used so far by each thread of this process's descendants (the
 * browser: its renderer runs the page's workers as threads), by "pid/tid". Summed over a scoring,
 * CPU time over wall time > 1 says that more than one thread worked on it, and the busy threads
 * are counted; on a shared machine the load can hide the gain in wall time but not these. */
function browserThreadCpu() {
  const read = (file) => {
    try {
      const text = fs.readFileSync(file, 'utf8');
      return text.slice(text.lastIndexOf(')') + 2).split(' ');
    } catch {
      return null;
    }
  };
  const procs = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map((pid) => [Number(pid), read(`/proc/${pid}/stat`)]).filter(([, f]) => f);
  const mine = new Set([process.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, f] of procs) if (!mine.has(pid) && mine.has(Number(f[1]))) { mine.add(pid); grew = true; }
  }
  mine.delete(process.pid);
  const out = {};
  for (const pid of mine) {
    let tids = [];
    try { tids = fs.readdirSync(`/proc/${pid}/task`); } catch { continue; }
    for (const tid of tids) {
      const f = read(`/proc/${pid}/task/${tid}/stat`);
      if (f) out[`${pid}/${tid}`] = (Number(f[11]) + Number(f[12])) / 100;
    }
  }
  return out;
}
/** In a fresh page and worker: loads `model`, scores `pairs` `times` times. */
async function score(variant, model, pairs, times, png = null) {
  const page = await browser.newPage();
  await page.exposeFunction('browserThreadCpu', browserThreadCpu);
  const logs = [];
  page.on('console', (m) => logs.push(m.text()));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(base);
  const result = await page.evaluate(async ({ variant, modelUrl, pairs, times, png }) => {
    const info = { crossOriginIsolated: self.crossOriginIsolated, hardwareConcurrency: navigator.hardwareConcurrency };
    const script = variant.build === 'one' ? './one/entry.js' : `./threaded/model-worker-threaded.js?threads=${variant.threads || navigator.hardwareConcurrency}`;
    const worker = new Worker(script, { type: 'module' });
    const events = [];
    let failure = null;
    worker.onerror = (e) => { failure = `worker error: ${e.message || 'no message'}`; };
    worker.onmessage = (e) => events.push(JSON.parse(e.data));
    const until = (match, timeout = 300_000) => new Promise((resolve) => {
      const start = performance.now();
      const check = () => {
        const e = events.find(match);
        if (e) resolve(e);
        else if (failure || performance.now() - start > timeout) resolve({ type: 'error', message: failure || 'timed out' });
        else setTimeout(check, 20);
      };
      check();
    });
    const send = (msg, bytes) => worker.postMessage({ msg: JSON.stringify(msg), bytes });
    const started = await until((e) => e.type === 'started' || e.type === 'error', 120_000);
    if (started.type === 'error') return { ...info, error: started.message };
    send({ type: 'init', prefer_gpu: false });
    const ready = await until((e) => e.type === 'ready' || e.type === 'error');
    if (png) {
      // The model check's forward pass: the tiny Idefics3's prefill logits.
      send({ type: 'load', job: 1, model: { from: 'url', base_url: modelUrl }, adapter: null, quantization: 'none', merge: false });
      const vlm = await until((e) => (e.type === 'loaded' || e.type === 'error') && e.job === 1);
      if (vlm.type === 'error') return { ...info, ready, error: vlm.message };
      send({ type: 'logits', job: 2, question: 'What is shown in this image?' }, new Uint8Array(png));
      const logits = await until((e) => (e.type === 'logits' || e.type === 'error') && e.job === 2);
      worker.terminate();
      return logits.type === 'error' ? { ...info, ready, error: logits.message } : { ...info, ready, logits: logits.values };
    }
    send({ type: 'bert_score_load', job: 1, model: { from: 'url', base_url: modelUrl }, model_name: 'roberta-large', layer: 3, batch_size: 64 });
    const loaded = await until((e) => (e.type === 'bert_score_loaded' || e.type === 'error'));
    if (loaded.type === 'error') return { ...info, ready, error: loaded.message };
    const runs = [];
    for (let i = 0; i < times; i += 1) {
      const job = 10 + i;
      const cpu0 = await self.browserThreadCpu();
      const t0 = performance.now();
      send({ type: 'bert_score', job, pairs, done: pairs.map(() => false) });
      const done = await until((e) => (e.type === 'bert_score_done' || e.type === 'error') && (e.job === job || e.job == null));
      const ms = performance.now() - t0;
      const cpu1 = await self.browserThreadCpu();
      const cpu = Object.entries(cpu1).map(([k, v]) => v - (cpu0[k] || 0)).filter((d) => d > 0).sort((a, b) => b - a);
      if (done.type === 'error') return { ...info, ready, error: done.message };
      const f1 = new Array(pairs.length);
      for (const c of events.filter((e) => e.type === 'bert_score_chunk' && e.job === job)) c.f1.forEach((v, k) => { f1[c.start + k] = v; });
      runs.push({ ms, cpu, f1 });
    }
    worker.terminate();
    return { ...info, ready, runs };
  }, { variant, modelUrl: `${base}${model}/`, pairs, times, png });
  await page.close();
  if (result.error) result.logs = logs.slice(-10);
  return result;
}

const allPairs = expected.map((e) => [e.cand, e.ref]);
const variants = [
  ...(oneDir ? [{ name: 'one-thread build', build: 'one' }] : []),
  { name: 'threaded build, pool of 1', build: 'threaded', threads: 1 },
  { name: 'threaded build, pool of hardwareConcurrency', build: 'threaded', threads: 0 },
];

// Parity on the tiny fixture, all 401 pairs.
const maxDiff = (a, b) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
const tinyF1 = {};
for (const v of variants) {
  const r = await score(v, 'tiny', allPairs, 1);
  if (r.error) {
    console.log(`${v.name}: FAILED on the tiny fixture: ${r.error}\n  ${(r.logs || []).join('\n  ')}`);
    continue;
  }
  tinyF1[v.name] = r.runs[0].f1;
  console.log(`${v.name}: crossOriginIsolated=${r.crossOriginIsolated}, hardwareConcurrency=${r.hardwareConcurrency}, backend ${r.ready.backend}; tiny fixture, 401 pairs: max |ΔF1| vs bert_score ${maxDiff(r.runs[0].f1, expected.map((e) => e.b64[2])).toExponential(2)} (tolerance ${TOLERANCE})`);
}
const oneTiny = tinyF1[variants[0].name];
for (const v of variants.slice(1)) {
  if (oneTiny && tinyF1[v.name]) console.log(`${v.name}: tiny fixture max |ΔF1| vs ${variants[0].name} ${maxDiff(tinyF1[v.name], oneTiny).toExponential(2)}`);
}

// The model check's forward pass: the tiny Idefics3's prefill logits against transformers'
// (crates/model/tests/fixtures/reference.safetensors, tolerance 1e-3 as tests/e2e/model.test.mjs).
function safetensor(file, name) {
  const bytes = fs.readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  const [begin, end] = header[name].data_offsets;
  const data = bytes.subarray(8 + headerLength + begin, 8 + headerLength + end);
  return [...new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength))];
}
const expectedLogits = safetensor(path.join(MODEL_FIXTURES, 'reference.safetensors'), 'base.prefill_logits');
const png = [...fs.readFileSync(path.join(MODEL_FIXTURES, 'fixture-image.png'))];
const vlmLogits = {};
for (const v of variants) {
  const r = await score(v, 'vlm', [], 0, png);
  if (r.error) {
    console.log(`${v.name}: FAILED on the tiny Idefics3: ${r.error}\n  ${(r.logs || []).join('\n  ')}`);
    continue;
  }
  vlmLogits[v.name] = r.logits;
  console.log(`${v.name}: tiny Idefics3 prefill logits (${r.logits.length}): max |Δ| vs transformers ${maxDiff(r.logits, expectedLogits).toExponential(2)} (tolerance 1e-3)`);
}
for (const v of variants.slice(1)) {
  const first = vlmLogits[variants[0].name];
  if (first && vlmLogits[v.name]) console.log(`${v.name}: tiny Idefics3 logits max |Δ| vs ${variants[0].name} ${maxDiff(vlmLogits[v.name], first).toExponential(2)}`);
}

// Timing on the mid-size model.
const pairs = allPairs.slice(0, PAIRS);
const times = Object.fromEntries(variants.map((v) => [v.name, { first: [], second: [], cpu: [], f1: null }]));
for (let round = 1; round <= RUNS; round += 1) {
  for (const v of round % 2 ? variants : [...variants].reverse()) {
    const r = await score(v, 'mid', pairs, 2);
    if (r.error) {
      console.log(`${v.name}, round ${round}: FAILED: ${r.error}\n  ${(r.logs || []).join('\n  ')}`);
      continue;
    }
    times[v.name].first.push(r.runs[0].ms);
    times[v.name].second.push(r.runs[1].ms);
    const total = r.runs[1].cpu.reduce((a, b) => a + b, 0);
    times[v.name].cpu.push((total * 1000) / r.runs[1].ms);
    // Threads that did at least a fifth of the scoring's CPU time.
    times[v.name].busy = [...(times[v.name].busy || []), r.runs[1].cpu.filter((c) => c >= total / 5).length];
    times[v.name].f1 ??= r.runs[1].f1;
    console.error(`round ${round}, ${v.name}: ${r.runs.map((x) => `${(x.ms / 1000).toFixed(2)} s (browser CPU ${x.cpu.reduce((a, b) => a + b, 0).toFixed(2)} s; busiest threads ${x.cpu.slice(0, 4).map((c) => c.toFixed(2)).join(', ')} s)`).join(', ')} (load average ${load()})`);
  }
}

// Without COOP/COEP: what the threaded build does on a page that is not cross-origin isolated.
isolate = false;
const plain = await score(variants.at(-1), 'tiny', allPairs.slice(0, 8), 1);
console.log(`without COOP/COEP: crossOriginIsolated=${plain.crossOriginIsolated}; threaded build: ${plain.error ? `fails: ${plain.error} | ${(plain.logs || []).join(' | ')}` : 'scored (unexpected)'}`);
if (oneDir) {
  const plainOne = await score(variants[0], 'tiny', allPairs.slice(0, 8), 1);
  console.log(`without COOP/COEP: one-thread build: ${plainOne.error ? `fails: ${plainOne.error}` : 'scores'}`);
}
await browser.close();
server.close();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => (xs.length ? `${(median(xs) / 1000).toFixed(2)} s (${(Math.min(...xs) / 1000).toFixed(2)}–${(Math.max(...xs) / 1000).toFixed(2)})` : '-');
console.log(`\nB.Score in the model worker, headless Chromium (${process.env.CHROMIUM || '/usr/bin/chromium'}), CPU backend (burn flex), ${os.cpus().length} CPUs`);
console.log(`mid-size random RoBERTa (hidden 512, FFN 2048, 4 layers, layer 3), ${PAIRS} pairs at batch size 64; median (min–max) of ${RUNS} rounds; load average at the end ${load()}`);
console.log(`| variant | first scoring (fresh worker) | second scoring | speed-up (second) vs ${variants[0].name} | browser CPU s / wall s (second) | threads with ≥ 1/5 of the CPU (second) | max abs ΔF1 vs ${variants[0].name} |`);
console.log('|---|---|---|---|---|---|---|');
const oneSecond = median(times[variants[0].name].second);
for (const v of variants) {
  const t = times[v.name];
  const diff = t.f1 && times[variants[0].name].f1 ? maxDiff(t.f1, times[variants[0].name].f1).toExponential(2) : '-';
  console.log(`| ${v.name} | ${fmt(t.first)} | ${fmt(t.second)} | ${t.second.length ? (oneSecond / median(t.second)).toFixed(2) : '-'} | ${t.cpu.length ? median(t.cpu).toFixed(2) : '-'} | ${(t.busy || []).join(', ') || '-'} | ${diff} |`);
}
console.log('\nmodel worker wasm sizes (the files served):');
for (const [name, dir] of [['one-thread', oneDir], ['threaded', threadedDir]].filter(([, d]) => d)) {
  const bytes = fs.readFileSync(path.join(dir, 'medhall-model-worker_bg.wasm'));
  console.log(`${name}: ${(bytes.length / 1e6).toFixed(2)} MB raw, ${(zlib.gzipSync(bytes, { level: 9 }).length / 1e6).toFixed(2)} MB gzip -9`);
}
