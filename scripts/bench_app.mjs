// Benchmark of the built page (dist/) in headless Chromium, printed side by side in one run:
//   1. wasm sizes (raw and gzip): the first load (the page's and the scoring worker's, both
//      fetched at start-up) and the model-check worker's (fetched when its panel is opened);
//   2. time from dropping the two LLaVA-Med judge-eval files (2,238 rows) to the first chart;
//   3. a synthetic 1,000,000-row results file scored in the page: time, the longest main-thread
//      task (PerformanceObserver 'longtask'), the main thread's JS heap and the worker's memory.
// There is no reference side and no ratio: the page's own figures against its targets. Writes
// docs/benchmarks/app.md and keeps the raw output under docs/benchmarks/runs/ (scripts/bench_lib.mjs).
// Usage: node scripts/bench_app.mjs [--rows N] [--runs N]   (after `trunk build --release`)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { DIST, serve, launch, sharedFile, waitForSummary } from '../tests/e2e/harness.mjs';
import { beginRun, distBuilt, spread, table } from './bench_lib.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ROWS = option('--rows', 1_000_000);
const RUNS = option('--runs', 3);

function sizes() {
  const files = fs.readdirSync(DIST).filter((f) => f.endsWith('.wasm'));
  return files.map((f) => {
    const bytes = fs.readFileSync(path.join(DIST, f));
    return { file: f, raw: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length };
  });
}

/** A results file in the official prediction format plus `gpt4_answer`, from a fixed seed. */
function synthetic(rows) {
  const file = path.join(os.tmpdir(), `medhall-bench-${rows}.negative.jsonl`);
  if (fs.existsSync(file)) return file;
  const words = ('the left lower lobe shows a small consolidation with air bronchograms no pleural effusion ' +
    'is seen mass lesion nodule enhancing cortex medulla fracture displaced cardiac silhouette normal ' +
    'ct mri ultrasound biopsy tumor cells nuclei stain positive negative region image scan patient ' +
    'there is evidence of mild moderate severe findings consistent with infection edema hemorrhage').split(' ');
  let state = 12345n;
  const rand = (n) => {
    state = (state * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return Number((state >> 33n) % BigInt(n));
  };
  const sentence = (len) => Array.from({ length: len }, () => words[rand(words.length)]).join(' ');
  const out = fs.openSync(file, 'w');
  let chunk = [];
  for (let i = 0; i < rows; i += 1) {
    chunk.push(JSON.stringify({ question_id: i, question: `${sentence(8)}?`, answer: `${sentence(10 + rand(12))}.`, gpt4_answer: `${sentence(12 + rand(10))}.` }));
    if (chunk.length === 10_000) {
      fs.writeSync(out, chunk.join('\n') + '\n');
      chunk = [];
    }
  }
  if (chunk.length) fs.writeSync(out, chunk.join('\n') + '\n');
  fs.closeSync(out);
  return file;
}

async function observedPage(browser, base) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(() => {
    // A heartbeat every 20 ms: the longest gap between beats bounds the longest main-thread task
    // from above, whether or not the browser reports long tasks.
    window.__maxGap = 0;
    let last = performance.now();
    setInterval(() => {
      const now = performance.now();
      window.__maxGap = Math.max(window.__maxGap, now - last);
      last = now;
    }, 20);
    // Tasks that started before window.__since are not counted: a measurement sets it (and
    // empties the list) just before its drop, so start-up's tasks are not blamed on scoring.
    // Entries can arrive late (buffered), hence the filter on start time rather than a reset alone.
    window.__longtasks = [];
    window.__since = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if (entry.startTime >= window.__since) {
          window.__longtasks.push({ at: entry.startTime - window.__since, duration: entry.duration });
        }
      }
    }).observe({ type: 'longtask', buffered: true });
  });
  await page.goto(base);
  await page.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });
  return { context, page };
}

async function main() {
  const run = beginRun('app', ['MEDHALL_DIST', 'MEDHALL_DATA']);
  const wasm = sizes();
  const { server, base } = await serve();
  const browser = await launch();
  const browserVersion = browser.version();
  const results = [];

  const pos = sharedFile('llava-med-v1.5-7b.positive.gpt4o-eval.jsonl');
  const neg = sharedFile('llava-med-v1.5-7b.negative.gpt4o-eval.jsonl');
  if (pos && neg) {
    const times = [];
    const scored = [];
    for (let i = 0; i < RUNS; i += 1) {
      const { context, page } = await observedPage(browser, `${base}?tab=results`);
      const start = Date.now();
      await page.setInputFiles('#results-input', [pos, neg]);
      await page.waitForFunction(() => document.querySelector('.scoring')?.textContent.includes('All 2238 samples scored'), null, { timeout: 120_000, polling: 5 });
      scored.push(Date.now() - start);
      await page.waitForSelector('.chart svg rect.hit', { timeout: 120_000 });
      times.push(Date.now() - start);
      await context.close();
    }
    results.push([`drop -> all 2,238 rows parsed and scored (wasm worker), median (min–max) of ${RUNS}`, `${spread(scored, 0)} ms`, `runs: ${scored.join(', ')} ms`]);
    results.push([`drop -> first chart, 2,238 rows (2 files), median (min–max) of ${RUNS}`, `${spread(times, 0)} ms`, `runs: ${times.join(', ')} ms`]);
  } else {
    results.push(['drop -> first chart, 2,238 rows', 'skipped', '../shared/medhalltune is absent']);
  }

  if (ROWS > 0) {
    const file = synthetic(ROWS);
    const { context, page } = await observedPage(browser, `${base}?tab=results`);
    // Measure from the drop on: forget start-up's long tasks and heartbeat gaps.
    await page.evaluate(() => {
      window.__since = performance.now();
      window.__longtasks = [];
      window.__maxGap = 0;
    });
    const start = Date.now();
    await page.setInputFiles('#results-input', [file]);
    await waitForSummary(page, 1, 1_800_000);
    const elapsed = Date.now() - start;
    // The first chart shows the means; the intervals (1,000 bootstrap resamples of every
    // group) follow and redraw it.
    await page.waitForSelector('.chart svg rect.hit', { timeout: 1_800_000 });
    const charted = Date.now() - start;
    await page.waitForFunction(() => document.querySelector('#summary .note')?.textContent.startsWith('Hover'), null, { timeout: 1_800_000, polling: 100 });
    const intervals = Date.now() - start;
    const report = await page.evaluate(() => ({
      longtasks: window.__longtasks,
      maxGap: window.__maxGap,
      heap: performance.memory ? performance.memory.usedJSHeapSize : null,
      worker: Number(document.querySelector('#worker-memory')?.dataset.bytes || 0),
    }));
    const longest = report.longtasks.length ? Math.max(...report.longtasks.map((t) => t.duration)) : 0;
    // When each long task ran, against the phases' times, says which phase to look at.
    const when = report.longtasks
      .map((t) => `${(t.at / 1000).toFixed(1)} s: ${t.duration.toFixed(0)} ms`)
      .join(', ');
    // The observer must see a long task when there is one: block the main thread for 120 ms.
    // (From a page timer: a task run by the devtools protocol itself is not a page task.)
    const seen = await page.evaluate(async () => {
      const before = window.__longtasks.length;
      setTimeout(() => {
        const start = performance.now();
        while (performance.now() - start < 120) { /* busy */ }
      }, 0);
      await new Promise((resolve) => setTimeout(resolve, 400));
      return window.__longtasks.slice(before).map((t) => t.duration);
    });
    const observerWorks = seen.some((d) => d >= 100);
    const mb = (b) => `${(b / 1048576).toFixed(1)} MB`;
    results.push([`${ROWS.toLocaleString('en')}-row results file: drop -> means in the table`, `${(elapsed / 1000).toFixed(1)} s`, `${(fs.statSync(file).size / 1048576).toFixed(0)} MB file`]);
    results.push(['  means -> first chart (target <= 3 s)', `${((charted - elapsed) / 1000).toFixed(1)} s`, `drop -> first chart ${(charted / 1000).toFixed(1)} s`]);
    results.push(['  drop -> 95% bootstrap intervals in the table and chart', `${(intervals / 1000).toFixed(1)} s`, '']);
    results.push(['  longest main-thread task (target <= 50 ms)', `${longest.toFixed(0)} ms`, `${report.longtasks.length} tasks over 50 ms; observer self-check (a 120 ms task): ${observerWorks ? 'seen' : 'NOT SEEN'}`]);
    results.push(['    tasks over 50 ms, from the drop', '', when || 'none']);
    results.push(['  longest gap of a 20 ms main-thread heartbeat', `${report.maxGap.toFixed(0)} ms`, 'an upper bound on the longest task, plus 20 ms']);
    results.push(['  memory: main-thread JS heap / worker wasm memory', `${report.heap ? mb(report.heap) : 'n/a'} / ${mb(report.worker)}`, '']);
    await context.close();
  }

  await browser.close();
  server.close();

  // The page's wasm and the scoring worker's (started by the app as it mounts) are both fetched
  // at start-up; the model-check worker only when its panel is opened (see index.html).
  const sizeRows = [];
  console.log('\nwasm sizes (dist/)');
  const kb = (b) => `${(b / 1024).toFixed(0).padStart(7)} KB`;
  let firstLoad = { raw: 0, gzip: 0 };
  for (const w of wasm) {
    let role;
    if (w.file.startsWith('medhall-model-worker')) {
      role = 'model-check worker (loads only when its panel is opened)';
    } else if (w.file.startsWith('medhall-worker')) {
      role = 'scoring worker (first load: started by the app at start-up)';
    } else {
      role = 'page (the page renders once it runs; target gzip <= 500 KB)';
    }
    if (!w.file.startsWith('medhall-model-worker')) {
      firstLoad = { raw: firstLoad.raw + w.raw, gzip: firstLoad.gzip + w.gzip };
    }
    console.log(`  ${w.file.padEnd(40)} ${kb(w.raw)} raw ${kb(w.gzip)} gzip   ${role}`);
    sizeRows.push([`\`${w.file}\``, kb(w.raw).trim(), kb(w.gzip).trim(), role]);
  }
  console.log(`  ${'first load: page + scoring worker'.padEnd(40)} ${kb(firstLoad.raw)} raw ${kb(firstLoad.gzip)} gzip   (both fetched at start-up)`);
  sizeRows.push(['first load: page + scoring worker', kb(firstLoad.raw).trim(), kb(firstLoad.gzip).trim(), 'both fetched at start-up']);
  console.log('\npage benchmarks');
  for (const [what, value, note] of results) console.log(`  ${what.padEnd(62)} ${String(value).padStart(16)}   ${note}`);
  console.log(`\nmachine: ${os.cpus().length} cores, headless Chromium ${browserVersion}`);
  run.finish([
    `The built page (\`${path.relative(process.cwd(), DIST) || 'dist'}\`, ${distBuilt(DIST)}: a build records no commit, so the commit above is the scripts', `
      + `not necessarily the page's) in headless Chromium ${browserVersion}. No reference side: the page's figures beside its targets.`,
    '',
    'wasm sizes (gzip at level 9):',
    '',
    table(['file', 'raw', 'gzip', 'role'], sizeRows),
    'Page timings:',
    '',
    table(['measure', 'value', 'note'], results.map(([what, value, note]) => [what.trim().replaceAll('->', '→'), value, note || ''])),
  ].join('\n'));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
