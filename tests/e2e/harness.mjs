// Shared pieces of the end-to-end tests and the page benchmark: a static server that serves the
// built dist/ under a sub-path (as a project site would), and a headless Chromium from the
// system (playwright-core drives it; no browser download).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
// MEDHALL_DIST: another built site to test (default dist/, what scripts/test.sh builds).
export const DIST = process.env.MEDHALL_DIST ? path.resolve(process.env.MEDHALL_DIST) : path.join(ROOT, 'dist');
export const SUB_PATH = '/medhall/lens/';
export const SHARED = process.env.MEDHALL_DATA || path.resolve(ROOT, '../shared/medhalltune');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.json': 'application/json',
  '.jsonl': 'application/x-ndjson',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Where the tiny fixture model is served from (tests only; not part of dist/). */
export const MODEL_FIXTURES = path.join(ROOT, 'crates/model/tests/fixtures');
export const FIXTURE_PREFIX = '__fixtures/model/';
export const BENCH_PREFIX = '__bench/model/';
/** Every path requested under FIXTURE_PREFIX, in order (the model tests count downloads). */
export const fixtureRequests = [];

/** Serves DIST (or another built site, `dist`) under SUB_PATH on 127.0.0.1 and a free port. */
export async function serve({ dist = DIST } = {}) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (!url.pathname.startsWith(SUB_PATH)) {
      res.writeHead(404).end('not under the sub-path');
      return;
    }
    let rel = decodeURIComponent(url.pathname.slice(SUB_PATH.length)) || 'index.html';
    if (rel === '__slow.negative.jsonl') {
      // A shard that never ends: a line every 100 ms, to test progress and cancel.
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      let i = 0;
      const timer = setInterval(() => {
        i += 1;
        res.write(JSON.stringify({ question_id: i, text: `Question ${i}?`, gpt4_answer: `Answer ${i}.` }) + '\n');
      }, 100);
      req.on('close', () => clearInterval(timer));
      return;
    }
    let root = dist;
    // Any image name under __fixtures/images/ is the fixture image (the model-check panel test
    // reads the demo questions' images from there).
    if (rel.startsWith('__fixtures/images/')) rel = `${FIXTURE_PREFIX}fixture-image.png`;
    if (rel.startsWith(BENCH_PREFIX)) {
      // The real-size random-weight model of scripts/bench_model.sh (benchmarks only).
      rel = rel.slice(BENCH_PREFIX.length);
      root = path.join(ROOT, 'target/bench-model');
    } else if (rel.startsWith(FIXTURE_PREFIX)) {
      rel = rel.slice(FIXTURE_PREFIX.length);
      root = MODEL_FIXTURES;
      fixtureRequests.push(rel);
    }
    const file = path.join(root, rel);
    if (!file.startsWith(root) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end('not found');
      return;
    }
    const body = fs.readFileSync(file);
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
      'content-length': body.length,
    });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return { server, origin: `http://127.0.0.1:${port}`, base: `http://127.0.0.1:${port}${SUB_PATH}` };
}

export async function launch({ webgpu = false } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      // WebGPU without a GPU: SwiftShader (TOOLCHAIN.md).
      ...(webgpu ? ['--enable-unsafe-webgpu'] : []),
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-default-apps',
    ],
  });
}

/** Opens one of the page's views from its navigation (`data`, `results`, `samples`, …). */
export async function openTab(page, name) {
  await page.click(`nav.tabs [data-tab="${name}"]`);
  await page.waitForSelector(`#view-${name}:not([hidden])`, { timeout: 10_000 });
}

/** The summary cells (split level, not per type) as {run, split, metric} -> value. */
export async function summaryMeans(page) {
  return page.$$eval('td[data-metric][data-value]:not([data-type])', (cells) =>
    cells.map((c) => ({
      run: c.dataset.run,
      split: c.dataset.split,
      metric: c.dataset.metric,
      value: Number(c.dataset.value),
    })),
  );
}

/** Waits until the page shows summary cells for `runs` runs, intervals computed. */
export async function waitForSummary(page, runs, timeout = 120_000) {
  await page.waitForFunction(
    (n) => {
      const cells = document.querySelectorAll('td[data-metric="meteor"][data-value]:not([data-type])');
      const names = new Set([...cells].map((c) => c.dataset.run));
      return names.size >= n;
    },
    runs,
    { timeout },
  );
}

export function sharedFile(name) {
  const file = path.join(SHARED, name);
  return fs.existsSync(file) ? file : null;
}

/**
 * Collects, from every page of `context`, what must never happen in a test unless the test says
 * it expects it: uncaught page errors, `error` events of any Web Worker the pages start (every
 * `new Worker` is wrapped by an init script, which CSP does not block), and Rust panics logged by
 * the pages. Returns the array the messages go into (`errors`, to share one between contexts);
 * `assertNoErrors` checks it. A test that provokes an error on purpose removes it (`expectErrors`).
 */
export async function collectErrors(context, errors = []) {
  await context.addInitScript(() => {
    const Native = window.Worker;
    if (!Native) return;
    window.Worker = class extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener('error', (e) => console.error(`worker error: ${e.message || 'no message'} (${args[0]})`));
      }
    };
  });
  context.on('weberror', (e) => errors.push(`page error: ${e.error()?.message ?? e.error()}`));
  context.on('console', (m) => {
    if (m.type() === 'error' && /^worker error:|panicked at/.test(m.text())) errors.push(m.text());
  });
  return errors;
}

/** Fails with every collected error, after letting late events arrive. */
export async function assertNoErrors(errors, page) {
  if (page && !page.isClosed()) await page.waitForTimeout(200);
  if (errors.length) throw new Error(`errors in the page or its workers:\n${errors.join('\n')}`);
}

/** Takes the collected errors that match `pattern` out of `errors` (a test provoked them). */
export function expectErrors(errors, pattern) {
  const taken = errors.filter((e) => pattern.test(e));
  for (const e of taken) errors.splice(errors.indexOf(e), 1);
  return taken;
}

/** A page's Web Worker whose script URL contains `name`, once its message handler is set. */
export async function workerNamed(page, name, timeout = 60_000) {
  const start = Date.now();
  for (;;) {
    const worker = page.workers().find((w) => w.url().includes(name));
    if (worker && (await worker.evaluate(() => typeof self.onmessage === 'function'))) return worker;
    if (Date.now() - start > timeout) throw new Error(`no ${name} worker with a message handler`);
    await page.waitForTimeout(100);
  }
}

/** Makes `worker` throw, uncaught, on the next request of `type`: a crash as a panic would be. */
export async function crashOn(worker, type) {
  await worker.evaluate((t) => {
    const handler = self.onmessage;
    self.onmessage = (e) => {
      const msg = typeof e.data?.msg === 'string' ? JSON.parse(e.data.msg) : null;
      if (msg?.type === t) throw new Error(`simulated crash on ${t}`);
      return handler.call(self, e);
    };
  }, type);
}

/**
 * The serious and critical axe-core violations (node_modules/axe-core, a dev-dependency) in the
 * document as it is now. The page's CSP refuses the script axe is injected as: use a context
 * made with `bypassCSP: true`.
 */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.addScriptTag({ path: path.join(ROOT, 'node_modules/axe-core/axe.min.js') });
  }
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
}
