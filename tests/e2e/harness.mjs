// Shared pieces of the end-to-end tests and the page benchmark: a static server that serves the
// built dist/ under a sub-path (as a project site would), and a headless Chromium from the
// system (playwright-core drives it; no browser download).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
export const DIST = path.join(ROOT, 'dist');
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

/** Serves DIST under SUB_PATH on 127.0.0.1 and a free port. */
export async function serve() {
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
    let root = DIST;
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
