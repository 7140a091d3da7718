// B.Score in the page with a real-size model: the random-weight roberta-large that
// scripts/bench_bertscore.sh builds (target/bench-bertscore/roberta-large, layer 17, 1.4 GB) loaded
// by the "Compute B.Score" panel from a local URL, on the CPU fallback (default) or WebGPU
// (--webgpu), scoring the first PAIRS LLaVA-Med pairs of target/bench-bertscore/pairs.positive.jsonl.
// Prints the model's load time, sentences/s and, beside them, the native CLI's sentences/s and F1
// from that script's run (target/bench-bertscore/ours.{log,jsonl}: 512 pairs, so the first PAIRS
// pairs' F1 can differ where bert_score's padding effect depends on the batch's other pairs).
//
// Usage: node scripts/bench_bertscore_page.mjs [PAIRS=8] [--webgpu]   (after scripts/build-site.sh)
// The build measured is MEDHALL_DIST (default dist/). With MEDHALL_DIST_BEFORE=DIR (another built
// site) that one is measured first in the same run and the last line gives the ratio this / before.
// The machine's load average is printed with the figures: on a shared machine they move with it.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch, DIST, ROOT, SUB_PATH, waitForSummary, openTab } from '../tests/e2e/harness.mjs';

const args = process.argv.slice(2);
const webgpu = args.includes('--webgpu');
const pairs = Number(args.find((a) => /^\d+$/.test(a)) ?? 8);
const BENCH = path.join(ROOT, 'target/bench-bertscore');
const MODEL = path.join(BENCH, 'roberta-large');
if (!fs.existsSync(path.join(MODEL, 'model.safetensors'))) {
  console.error('bench_bertscore_page: no target/bench-bertscore/roberta-large: run scripts/bench_bertscore.sh first');
  process.exit(1);
}

// The build being measured (servedDist) under the sub-path, the model under /__bench/bertscore/.
const builds = [
  ...(process.env.MEDHALL_DIST_BEFORE ? [{ name: 'before', dist: path.resolve(process.env.MEDHALL_DIST_BEFORE) }] : []),
  { name: process.env.MEDHALL_DIST_BEFORE ? 'this' : 'page', dist: DIST },
];
let servedDist = DIST;
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  let file = null;
  if (url.pathname.startsWith('/__bench/bertscore/')) file = path.join(MODEL, path.basename(url.pathname));
  else if (url.pathname.startsWith(SUB_PATH)) file = path.join(servedDist, decodeURIComponent(url.pathname.slice(SUB_PATH.length)) || 'index.html');
  if (!file || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    res.writeHead(404).end();
    return;
  }
  const type = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.css': 'text/css' }[path.extname(file)];
  res.writeHead(200, { 'content-type': type || 'application/octet-stream', 'content-length': fs.statSync(file).size });
  fs.createReadStream(file).pipe(res);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const rows = fs.readFileSync(path.join(BENCH, 'pairs.positive.jsonl'), 'utf8').trim().split('\n').slice(0, pairs).map((l) => JSON.parse(l));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medhall-bench-bert-'));
const run = path.join(tmp, 'bench.positive.jsonl');
fs.writeFileSync(run, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');

const browser = await launch({ webgpu });
const native = fs.readFileSync(path.join(BENCH, 'ours.log'), 'utf8').match(/\(([\d.]+) sentences\/s\)/)?.[1];
const nativeF1 = new Map(fs.readFileSync(path.join(BENCH, 'ours.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).map((l) => [String(l.question_id), l.bertscore]));
try {
  for (const build of builds) {
    servedDist = build.dist;
    const loadAtStart = load();
    const page = await browser.newPage();
    await page.goto(`${origin}${SUB_PATH}`);
    await page.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });
    await page.setInputFiles('#results-input', [run]);
    await waitForSummary(page, 1);
    await openTab(page, 'results');
    await page.click('#bertscore > details > summary');
    await page.fill('#bertscore-url', `${origin}/__bench/bertscore/roberta-large/`);
    await page.fill('#bertscore-layer', '17');
    if ((await page.isChecked('#bertscore-gpu')) !== webgpu) await page.click('#bertscore-gpu');
    const started = Date.now();
    await page.click('#bertscore-start');
    await page.waitForFunction(() => /loaded in/.test(document.querySelector('#bertscore-status')?.textContent ?? '') || document.querySelector('#bertscore-error'), null, { timeout: 1_800_000 });
    const loadedAt = Date.now();
    await page.waitForFunction(() => document.querySelector('#bertscore-progress')?.dataset.running === 'false', null, { timeout: 3_600_000 });
    const error = await page.$eval('#bertscore-error', (e) => e.textContent).catch(() => null);
    if (error) throw new Error(`${build.name}: the page says: ${error}`);
    const seconds = (Date.now() - loadedAt) / 1000;
    const progress = await page.$eval('#bertscore-progress', (p) => ({ ...p.dataset }));
    const backend = await page.$eval('#bertscore-backend', (p) => p.textContent).catch(() => '?');
    const kept = await page.evaluate(async () => {
      const request = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
      const db = await request(indexedDB.open('medhall-lens-bertscore'));
      const values = await request(db.transaction('chunks').objectStore('chunks').getAll());
      db.close();
      return values.flatMap((v) => JSON.parse(v.chunk).values);
    });
    await page.close();
    const sentences = Number(progress.sentencesTotal);
    build.rate = sentences / seconds;
    const diffs = kept.map(([id, , f1]) => Math.abs(f1 - nativeF1.get(id))).filter(Number.isFinite);
    console.log(`${build.name} (${path.relative(ROOT, build.dist)}, ${backend}): model loaded in ${((loadedAt - started) / 1000).toFixed(1)} s; ${sentences} sentences of ${pairs} pairs in ${seconds.toFixed(1)} s = ${build.rate.toFixed(3)} sentences/s (load average ${loadAtStart} before, ${load()} after)`);
    console.log(`${build.name}: page / native CLI (scripts/bench_bertscore.sh, 512 pairs: ${native} sentences/s) = ${(build.rate / Number(native)).toFixed(3)}`);
    console.log(`${build.name}: F1 of the ${kept.length} pairs against the native run's: max |dF1| ${Math.max(...diffs).toExponential(2)}`);
  }
  if (builds.length === 2) console.log(`sentences/s this / before = ×${(builds[1].rate / builds[0].rate).toFixed(2)}`);
} finally {
  await browser.close();
  server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}
