// B.Score in the page with a real-size model: the random-weight roberta-large that
// scripts/bench_bertscore.sh builds (target/bench-bertscore/roberta-large, layer 17, 1.4 GB) loaded
// by the "Compute B.Score" panel from a local URL, on the CPU fallback (default) or WebGPU
// (--webgpu), scoring the first PAIRS LLaVA-Med pairs of target/bench-bertscore/pairs.positive.jsonl,
// against the native CLI (`medhall score --bertscore`, bench-fast build, burn flex) on the same
// pairs file, with --threads T rayon threads (default 1: the page's CPU fallback is wasm without
// threads).
//
// RUNS rounds (default 3): in each round the page and the native CLI run back to back (the page
// first in odd rounds, the CLI first in even ones). Prints the model's load time, sentences/s of
// both (median (min–max) over the rounds), the ratio page / native CLI (the median (min–max) of
// the rounds' ratios) and the page's F1 against the native run's. Writes
// docs/benchmarks/bertscore-page.md and keeps the raw output under docs/benchmarks/runs/.
//
// Usage: [RUNS=N] node scripts/bench_bertscore_page.mjs [PAIRS=8] [--webgpu] [--threads T]
//   (after scripts/bench_bertscore.sh and scripts/build-site.sh)
// The build measured is MEDHALL_DIST (default dist/). With MEDHALL_DIST_BEFORE=DIR (another built
// site) that one runs too, alternating with this one in each round, and the table adds the ratio
// this / before.
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch, DIST, ROOT, SUB_PATH, waitForSummary, openTab } from '../tests/e2e/harness.mjs';
import { beginRun, distBuilt, ratioCell, spread, table } from './bench_lib.mjs';

const args = process.argv.slice(2);
const webgpu = args.includes('--webgpu');
const threadsAt = args.indexOf('--threads');
const THREADS = threadsAt >= 0 ? Number(args[threadsAt + 1]) : 1;
const pairs = Number(args.find((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--threads') ?? 8);
const RUNS = Number(process.env.RUNS || 3);
const BENCH = path.join(ROOT, 'target/bench-bertscore');
const MODEL = path.join(BENCH, 'roberta-large');
const MEDHALL = path.join(ROOT, 'target/bench-fast/medhall');
if (!fs.existsSync(path.join(MODEL, 'model.safetensors')) || !fs.existsSync(MEDHALL)) {
  console.error('bench_bertscore_page: no target/bench-bertscore/roberta-large or target/bench-fast/medhall: run scripts/bench_bertscore.sh first');
  process.exit(1);
}
const run = beginRun('bertscore-page', ['RUNS', 'MEDHALL_DIST', 'MEDHALL_DIST_BEFORE']);

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
const runFile = path.join(tmp, 'bench.positive.jsonl');
fs.writeFileSync(runFile, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');

/** The native CLI on the same pairs file, started afresh (its resume cache removed). */
function native() {
  const out = path.join(tmp, 'native.jsonl');
  fs.rmSync(out, { force: true });
  fs.rmSync(`${out}.bertscore-cache.jsonl`, { force: true });
  const p = spawnSync(MEDHALL, ['score', '--bertscore', MODEL, '--per-sample', out, runFile], {
    env: { ...process.env, RAYON_NUM_THREADS: String(THREADS) },
    encoding: 'utf8',
  });
  if (p.status !== 0) throw new Error(`native CLI failed: ${p.stderr.slice(-2000)}`);
  const m = p.stderr.match(/(\d+) sentences encoded and \d+ pairs matched in ([\d.]+) s/);
  const f1 = new Map(fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).map((l) => [String(l.question_id), l.bertscore]));
  return { sentences: Number(m[1]), seconds: Number(m[2]), rate: Number(m[1]) / Number(m[2]), f1 };
}

async function page(browser, build) {
  servedDist = build.dist;
  const p = await browser.newPage();
  await p.goto(`${origin}${SUB_PATH}`);
  await p.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });
  await p.setInputFiles('#results-input', [runFile]);
  await waitForSummary(p, 1);
  await openTab(p, 'results');
  await p.click('#bertscore > details > summary');
  await p.fill('#bertscore-url', `${origin}/__bench/bertscore/roberta-large/`);
  await p.fill('#bertscore-layer', '17');
  if ((await p.isChecked('#bertscore-gpu')) !== webgpu) await p.click('#bertscore-gpu');
  const started = Date.now();
  await p.click('#bertscore-start');
  await p.waitForFunction(() => /loaded in/.test(document.querySelector('#bertscore-status')?.textContent ?? '') || document.querySelector('#bertscore-error'), null, { timeout: 1_800_000 });
  const loadedAt = Date.now();
  await p.waitForFunction(() => document.querySelector('#bertscore-progress')?.dataset.running === 'false', null, { timeout: 3_600_000 });
  const error = await p.$eval('#bertscore-error', (e) => e.textContent).catch(() => null);
  if (error) throw new Error(`${build.name}: the page says: ${error}`);
  const seconds = (Date.now() - loadedAt) / 1000;
  const progress = await p.$eval('#bertscore-progress', (e) => ({ ...e.dataset }));
  const backend = await p.$eval('#bertscore-backend', (e) => e.textContent).catch(() => '?');
  const kept = await p.evaluate(async () => {
    const request = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
    const db = await request(indexedDB.open('medhall-lens-bertscore'));
    const values = await request(db.transaction('chunks').objectStore('chunks').getAll());
    db.close();
    return values.flatMap((v) => JSON.parse(v.chunk).values);
  });
  await p.close();
  const sentences = Number(progress.sentencesTotal);
  return { loadS: (loadedAt - started) / 1000, seconds, sentences, rate: sentences / seconds, backend, kept };
}

const browser = await launch({ webgpu });
const results = Object.fromEntries(builds.map((b) => [b.name, []]));
const natives = [];
const loadStart = load();
try {
  console.log(`${pairs} pairs, ${webgpu ? 'WebGPU' : 'CPU fallback'} in the page; native CLI on ${THREADS} thread(s); ${RUNS} rounds`);
  for (let round = 1; round <= RUNS; round += 1) {
    const order = round % 2 ? [...builds, 'native'] : ['native', ...[...builds].reverse()];
    for (const side of order) {
      if (side === 'native') {
        const n = native();
        natives.push(n);
        console.log(`round ${round}, native CLI (${THREADS} threads): ${n.sentences} sentences in ${n.seconds.toFixed(1)} s = ${n.rate.toFixed(3)} sentences/s (load average ${load()})`);
      } else {
        const r = await page(browser, side);
        results[side.name].push(r);
        console.log(`round ${round}, ${side.name} (${path.relative(ROOT, side.dist)}, ${r.backend}): model loaded in ${r.loadS.toFixed(1)} s; ${r.sentences} sentences in ${r.seconds.toFixed(1)} s = ${r.rate.toFixed(3)} sentences/s (load average ${load()})`);
      }
    }
  }
} finally {
  await browser.close();
  server.close();
}
fs.rmSync(tmp, { recursive: true, force: true });

const nativeF1 = natives[natives.length - 1].f1;
const md = [];
for (const build of builds) {
  const rs = results[build.name];
  const diffs = rs[rs.length - 1].kept.map(([id, , f1]) => Math.abs(f1 - nativeF1.get(String(id)))).filter(Number.isFinite);
  md.push([
    `${build.name} (\`${path.relative(ROOT, build.dist) || 'dist'}\`, ${distBuilt(build.dist)})`, rs[0].backend, webgpu ? 'WebGPU' : '1 (wasm)',
    spread(rs.map((r) => r.loadS)), spread(rs.map((r) => r.seconds)), spread(rs.map((r) => r.rate), 3),
    ratioCell(rs.map((r, i) => r.rate / natives[i].rate)), diffs.length ? Math.max(...diffs).toExponential(2) : '-',
  ]);
}
md.push([
  'native CLI (`medhall score --bertscore`, bench-fast)', 'burn flex', `${THREADS} (\`RAYON_NUM_THREADS\`)`, '-',
  spread(natives.map((n) => n.seconds)), spread(natives.map((n) => n.rate), 3), '1×', '0',
]);
if (builds.length === 2) {
  md.push(['this / before', '', '', '', '', '', ratioCell(results.this.map((r, i) => r.rate / results.before[i].rate)), '']);
}
const body = [
  `Random-weight roberta-large (published config), layer 17, the first ${pairs} LLaVA-Med pairs (${natives[0].sentences} distinct sentences), `
    + `${RUNS} alternated rounds. Load, seconds and sentences/s: median (min–max) over the rounds; a ratio: the median (min–max) of the rounds' ratios `
    + '(sentences/s of the page / of the native CLI in the same round). |ΔF1|: the largest per-pair difference from the native run on the same pairs (last round).',
  `Load average during the rounds: ${loadStart} at their start, ${load()} at their end.`,
  '',
  table(['side', 'backend', 'threads', 'model load s', 'seconds', 'sentences/s', 'sentences/s vs native CLI', 'max |ΔF1|'], md),
].join('\n');
console.log(`\n${body}`);
run.finish(body);
