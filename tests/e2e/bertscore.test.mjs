// End-to-end test of the "Compute B.Score" panel with the tiny random-weight RoBERTa fixture
// (crates/model/tests/fixtures/bertscore, served by the harness as the model folder URL) and its
// 401 pairs, whose P/R/F1 bert_score 0.3.13 recorded (expected.jsonl, made by
// scripts/bertscore_fixtures.py). Self-contained: the run and its reference shard are written
// from the fixture pairs (bert_score's candidate is the reference answer, as in eval.py).
//
// Checked: a computation at batch size 1 cancelled part-way keeps what it computed and the next
// one scores only the rest; at batch size 64 (bert_score's default) every per-sample F1 the page
// keeps equals bert_score's within TOLERANCE on the CPU backend (the backend is asserted); the
// summary shows the bertscore mean; after a reload the values are back without any computation.
// A second test does the parity on WebGPU (SwiftShader, Chromium's CPU WebGPU, without a GPU).
// Run by scripts/test.sh after the Trunk build: node --test tests/e2e/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  serve, launch, waitForSummary, collectErrors, assertNoErrors, openTab, MODEL_FIXTURES, FIXTURE_PREFIX, fixtureRequests,
} from './harness.mjs';

const RUN = 'bertscore-fixture.negative.jsonl';
/** Per-sample |ΔF1| allowed against bert_score in the browser, CPU backend (f32 both sides). */
const TOLERANCE = 1e-5;
const expected = fs
  .readFileSync(path.join(MODEL_FIXTURES, 'bertscore/expected.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line));
const PAIRS = expected.length;

function writeFixtures(dir) {
  const refs = path.join(dir, 'bertscore-refs.negative.jsonl');
  fs.writeFileSync(refs, expected.map((r, i) => JSON.stringify({ question_id: i, text: `Question ${i}?`, gpt4_answer: r.cand })).join('\n') + '\n');
  const run = path.join(dir, RUN);
  fs.writeFileSync(run, expected.map((r, i) => JSON.stringify({ question_id: i, question: `Question ${i}?`, answer: r.ref })).join('\n') + '\n');
  return { refs, run };
}

/** Every kept chunk of B.Score values (IndexedDB), as {signature, values: [[id, pair, f1]]}. */
async function keptChunks(page) {
  return page.evaluate(async () => {
    const request = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
    const db = await request(indexedDB.open('medhall-lens-bertscore'));
    if (!db.objectStoreNames.contains('chunks')) { db.close(); return []; }
    const values = await request(db.transaction('chunks').objectStore('chunks').getAll());
    db.close();
    return values.map((v) => JSON.parse(v.chunk));
  });
}

/** F1 by question id from the kept chunks whose signature says batch `batch`. */
async function keptF1(page, batch) {
  const byId = new Map();
  for (const chunk of await keptChunks(page)) {
    if (!chunk.signature.includes(`,batch=${batch},`)) continue;
    for (const [id, , f1] of chunk.values) byId.set(Number(id), f1);
  }
  return byId;
}

const progress = (page) => page.$eval('#bertscore-progress', (p) => ({ ...p.dataset, text: p.textContent }));
const status = (page) => page.$eval('#bertscore-status', (p) => p.textContent);
const error = (page) => page.$eval('#bertscore-error', (p) => p.textContent).catch(() => null);

async function waitIdle(page, timeout = 180_000) {
  await page.waitForFunction(() => document.querySelector('#bertscore-progress')?.dataset.running === 'false', null, { timeout });
}

async function openPanel(page) {
  await openTab(page, 'results');
  await page.click('#bertscore > details > summary');
}

async function compute(page, { url, batch, gpu = false }) {
  await page.fill('#bertscore-url', url);
  await page.fill('#bertscore-layer', '3');
  await page.fill('#bertscore-batch', String(batch));
  // The CPU backend unless asked: each parity stated here names its backend.
  if ((await page.isChecked('#bertscore-gpu')) !== gpu) await page.click('#bertscore-gpu');
  await page.click('#bertscore-start');
  await page.waitForFunction(() => document.querySelector('#bertscore-progress')?.dataset.running === 'true', null, { timeout: 10_000 });
}

const bertscoreCell = (page) =>
  page.$eval(`td[data-run="${RUN}"][data-metric="bertscore"]:not([data-type])`, (c) => ({ value: Number(c.dataset.value), title: c.title }));

test('B.Score in the page: cancel and resume, bert_score parity on the CPU backend, kept across a reload', { timeout: 600_000 }, async (t) => {
  const site = await serve();
  const browser = await launch();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medhall-bertscore-'));
  t.after(async () => {
    await browser.close();
    site.server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const context = await browser.newContext();
  const errors = await collectErrors(context);
  const files = writeFixtures(tmp);
  const url = `${site.base}${FIXTURE_PREFIX}bertscore/`;
  const page = await context.newPage();
  await page.goto(site.base);
  await page.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });
  await page.setInputFiles('#shard-files', [files.refs]);
  await page.setInputFiles('#results-input', [files.run]);
  await waitForSummary(page, 1);
  await openPanel(page);

  // Batch size 1: one pair a chunk, so a cancel lands part-way.
  await compute(page, { url, batch: 1 });
  await page.waitForFunction(() => Number(document.querySelector('#bertscore-progress')?.dataset.pairsDone) >= 20, null, { timeout: 120_000 });
  await page.click('#bertscore-cancel');
  await waitIdle(page);
  assert.equal(await error(page), null);
  assert.match(await status(page), /Cancelled/);
  const keptAfterCancel = (await keptF1(page, 1)).size;
  assert.ok(keptAfterCancel >= 20 && keptAfterCancel < PAIRS, `kept ${keptAfterCancel} of ${PAIRS} when cancelled`);
  const cancelled = await progress(page);
  assert.equal(Number(cancelled.computed), keptAfterCancel, 'what was computed is what was kept');

  // Again: only the pairs not kept are scored.
  await page.click('#bertscore-start');
  await waitIdle(page);
  assert.equal(await error(page), null, await error(page));
  const resumed = await progress(page);
  assert.equal(Number(resumed.computed), PAIRS - keptAfterCancel, `resumed: ${resumed.text}`);
  assert.equal(Number(resumed.pairsDone), PAIRS);
  assert.equal((await keptF1(page, 1)).size, PAIRS);

  // Batch size 64, bert_score's default: every F1 against bert_score's.
  await compute(page, { url, batch: 64 });
  await waitIdle(page);
  assert.equal(await error(page), null, await error(page));
  const done = await progress(page);
  assert.equal(done.backend, 'cpu', 'the CPU backend ran');
  assert.equal(Number(done.computed), PAIRS, done.text);
  assert.match(done.text, /sentences\/s/);
  const f1 = await keptF1(page, 64);
  assert.equal(f1.size, PAIRS);
  let worst = 0;
  for (let i = 0; i < PAIRS; i += 1) {
    const d = Math.abs(f1.get(i) - expected[i].b64[2]);
    worst = Math.max(worst, d);
    assert.ok(d <= TOLERANCE, `pair ${i}: page ${f1.get(i)}, bert_score ${expected[i].b64[2]}`);
  }
  const mean = expected.reduce((s, r) => s + r.b64[2], 0) / PAIRS;
  console.log(`B.Score in the page (CPU backend, batch 64): max |dF1| ${worst.toExponential(2)} over ${PAIRS} pairs; mean ${mean.toFixed(6)}`);
  const signature = await page.$eval('#bertscore-signature', (p) => p.textContent);
  assert.match(signature, /bert_score=0\.3\.13,model=bertscore,files=h128:[0-9a-f]{32},layer=3,.*batch=64,max_len=48/);
  // The summary's bertscore mean (the session's, from the values given to it).
  await page.waitForFunction((run) => {
    const cell = document.querySelector(`td[data-run="${run}"][data-metric="bertscore"]:not([data-type])`);
    return cell && /n = 401\b/.test(cell.title);
  }, RUN, { timeout: 60_000 });
  const cell = await bertscoreCell(page);
  assert.ok(Math.abs(cell.value - mean) <= TOLERANCE, `summary mean ${cell.value}, bert_score's ${mean}`);

  // After a reload: the values are back, nothing is computed and no model file is fetched.
  const modelFetches = fixtureRequests.filter((p) => p.startsWith('bertscore/')).length;
  await page.reload();
  await page.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });
  await waitForSummary(page, 1);
  await page.waitForFunction((run) => {
    const cell = document.querySelector(`td[data-run="${run}"][data-metric="bertscore"]:not([data-type])`);
    return cell && /n = 401\b/.test(cell.title);
  }, RUN, { timeout: 60_000 });
  const restoredCell = await bertscoreCell(page);
  assert.ok(Math.abs(restoredCell.value - cell.value) <= 1e-12, 'the same mean after the reload');
  const after = await progress(page);
  assert.equal(Number(after.restored), PAIRS, 'every value restored from this browser');
  assert.equal(Number(after.computed), 0, 'nothing computed after the reload');
  assert.equal(fixtureRequests.filter((p) => p.startsWith('bertscore/')).length, modelFetches, 'no model file fetched');
  await assertNoErrors(errors, page);
});

test('B.Score in the page on WebGPU (SwiftShader in headless Chromium): bert_score parity', { timeout: 600_000 }, async (t) => {
  const site = await serve();
  const browser = await launch({ webgpu: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medhall-bertscore-gpu-'));
  t.after(async () => {
    await browser.close();
    site.server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const context = await browser.newContext();
  const errors = await collectErrors(context);
  const files = writeFixtures(tmp);
  const page = await context.newPage();
  await page.goto(site.base);
  await page.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });
  await page.setInputFiles('#shard-files', [files.refs]);
  await page.setInputFiles('#results-input', [files.run]);
  await waitForSummary(page, 1);
  await openPanel(page);
  await compute(page, { url: `${site.base}${FIXTURE_PREFIX}bertscore/`, batch: 64, gpu: true });
  await waitIdle(page, 300_000);
  assert.equal(await error(page), null, await error(page));
  const done = await progress(page);
  const backend = await page.$eval('#bertscore-backend', (p) => p.textContent);
  assert.equal(done.backend, 'webgpu', `the WebGPU backend ran: ${backend}`);
  assert.match(await status(page), /Done|cut at the model's maximum length/);
  const f1 = await keptF1(page, 64);
  assert.equal(f1.size, PAIRS);
  let worst = 0;
  for (let i = 0; i < PAIRS; i += 1) {
    const d = Math.abs(f1.get(i) - expected[i].b64[2]);
    worst = Math.max(worst, d);
    assert.ok(d <= TOLERANCE, `pair ${i}: page ${f1.get(i)}, bert_score ${expected[i].b64[2]}`);
  }
  console.log(`B.Score in the page (${backend}, batch 64): max |dF1| ${worst.toExponential(2)} over ${PAIRS} pairs`);
  await assertNoErrors(errors, page);
});
