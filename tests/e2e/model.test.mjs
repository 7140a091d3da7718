// The model-check worker in headless Chromium: the tiny fixture model (crates/model/tests/fixtures,
// served by the harness) runs on WebGPU (SwiftShader) and on the CPU fallback, its logits match
// transformers' reference, a second load comes from the Cache API, and an answer streams.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serve, launch, MODEL_FIXTURES, FIXTURE_PREFIX, fixtureRequests } from './harness.mjs';

const TOLERANCE = 1e-3;
const QUESTION = 'What is shown in this image?';

/** One tensor of a safetensors file as a Float32Array. */
function safetensor(file, name) {
  const bytes = fs.readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  const { dtype, data_offsets: [begin, end] } = header[name];
  assert.equal(dtype, 'F32');
  const data = bytes.subarray(8 + headerLength + begin, 8 + headerLength + end);
  return new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
}

let server;
let browser;
let page;
let base;

test.before(async () => {
  ({ server, base } = await serve());
  browser = await launch({ webgpu: true });
  page = await browser.newPage();
  // The page itself is not needed, only its origin (same-origin worker, CSP of index.html).
  await page.goto(base);
  await page.evaluate(() => {
    // A small driver kept on window: start a worker, send requests, collect events.
    window.modelWorker = (fixtureUrl) => {
      const worker = new Worker('./medhall-model-worker_loader.js');
      const events = [];
      const waiters = [];
      worker.onmessage = (e) => {
        const event = JSON.parse(e.data);
        events.push(event);
        for (const w of [...waiters]) {
          if (w.match(event)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(event);
          }
        }
      };
      const until = (match, ms = 120_000) =>
        new Promise((resolve, reject) => {
          const seen = events.find(match);
          if (seen) return resolve(seen);
          waiters.push({ match, resolve });
          setTimeout(() => reject(new Error(`timed out; last events: ${JSON.stringify(events.slice(-4)).slice(0, 600)}`)), ms);
        });
      // Requests sent before the worker's code has loaded would be lost: wait for `started`.
      const started = until((e) => e.type === 'started');
      const send = async (msg, bytes) => {
        await started;
        worker.postMessage({ msg: JSON.stringify(msg), bytes });
      };
      return { worker, events, until, send, fixtureUrl };
    };
  });
});

test.after(async () => {
  await browser?.close();
  server?.close();
});

/** Starts a worker, initialises it (GPU or CPU), loads the tiny model; returns what happened. */
async function loadTiny(preferGpu, quantization = 'none') {
  const modelUrl = `${base}${FIXTURE_PREFIX}tiny-idefics3/`;
  return page.evaluate(
    async ({ modelUrl, preferGpu, quantization }) => {
      const w = window.modelWorker(modelUrl);
      window.current = w;
      await w.send({ type: 'init', prefer_gpu: preferGpu });
      const ready = await w.until((e) => e.type === 'ready');
      await w.send({ type: 'load', job: 1, model: { base_url: modelUrl }, adapter: null, quantization, merge: false });
      const loaded = await w.until((e) => (e.type === 'loaded' || e.type === 'error') && e.job === 1);
      const progress = w.events.filter((e) => e.type === 'progress').length;
      return { ready, loaded, progress };
    },
    { modelUrl, preferGpu, quantization },
  );
}

async function prefillLogits() {
  const png = [...fs.readFileSync(path.join(MODEL_FIXTURES, 'fixture-image.png'))];
  return page.evaluate(
    async ({ png, question }) => {
      const w = window.current;
      await w.send({ type: 'logits', job: 2, question }, new Uint8Array(png));
      return w.until((e) => (e.type === 'logits' || e.type === 'error') && e.job === 2);
    },
    { png, question: QUESTION },
  );
}

function maxDiff(ours, reference) {
  assert.equal(ours.length, reference.length);
  let max = 0;
  for (let i = 0; i < ours.length; i += 1) max = Math.max(max, Math.abs(ours[i] - reference[i]));
  return max;
}

const reference = JSON.parse(fs.readFileSync(path.join(MODEL_FIXTURES, 'reference.json'), 'utf8'));
const expectedLogits = safetensor(path.join(MODEL_FIXTURES, 'reference.safetensors'), 'base.prefill_logits');

for (const backend of ['webgpu', 'cpu']) {
  test(`tiny model on ${backend}: prefill logits match transformers within ${TOLERANCE}`, async () => {
    const { ready, loaded } = await loadTiny(backend === 'webgpu');
    assert.equal(ready.type, 'ready');
    assert.equal(ready.backend, backend, `fallback: ${ready.fallback_reason}`);
    if (backend === 'webgpu') assert.ok(ready.adapter_info, 'the adapter is recorded');
    assert.equal(loaded.type, 'loaded', loaded.message);
    const logits = await prefillLogits();
    assert.equal(logits.type, 'logits', logits.message);
    assert.deepEqual(logits.ids, reference.input.input_ids);
    const diff = maxDiff(logits.values, expectedLogits);
    console.log(`${backend}: max |logit - transformers| = ${diff.toExponential(2)}`);
    assert.ok(diff <= TOLERANCE, `${backend}: ${diff}`);
  });
}

test('a second load comes from the cache; an answer streams token by token', async () => {
  const before = fixtureRequests.filter((p) => p.endsWith('model.safetensors')).length;
  assert.ok(before >= 1, 'the first loads downloaded the weights');
  const { loaded } = await loadTiny(true, 'q8');
  assert.equal(loaded.type, 'loaded', loaded.message);
  assert.equal(fixtureRequests.filter((p) => p.endsWith('model.safetensors')).length, before, 'no new download');
  assert.equal(loaded.network_files, 0);
  assert.ok(loaded.cached_files >= 3);
  const png = [...fs.readFileSync(path.join(MODEL_FIXTURES, 'fixture-image.png'))];
  const answer = await page.evaluate(
    async ({ png, question }) => {
      const w = window.current;
      await w.send({ type: 'generate', job: 3, question, image_name: 'fixture-image.png', max_new_tokens: 4, adapter_enabled: false }, new Uint8Array(png));
      const done = await w.until((e) => (e.type === 'answer' || e.type === 'error') && e.job === 3);
      return { done, tokens: w.events.filter((e) => e.type === 'token' && e.job === 3).length };
    },
    { png, question: QUESTION },
  );
  assert.equal(answer.done.type, 'answer', answer.done.message);
  assert.equal(answer.done.generated_tokens, 4);
  assert.ok(answer.tokens >= 1, 'tokens were streamed');
  assert.ok(answer.done.time_to_first_token_ms > 0);
  // A corrupt image is an error event, not a crash; the worker keeps answering.
  const bad = await page.evaluate(async () => {
    const w = window.current;
    await w.send({ type: 'generate', job: 4, question: 'x', image_name: 'broken.png', max_new_tokens: 2, adapter_enabled: false }, new Uint8Array([1, 2, 3]));
    return w.until((e) => (e.type === 'answer' || e.type === 'error') && e.job === 4);
  });
  assert.equal(bad.type, 'error');
  assert.match(bad.message, /broken\.png: not a usable image/);
  const cleared = await page.evaluate(async () => {
    const w = window.current;
    await w.send({ type: 'clear_cache' });
    return w.until((e) => e.type === 'cache_cleared' || (e.type === 'error' && e.job == null));
  });
  assert.equal(cleared.type, 'cache_cleared', cleared.message);
  assert.ok(cleared.files >= 3);
});

test('the panel: load the tiny model, answer 3 demo questions, see them scored as a run', async () => {
  const panelPage = await browser.newPage();
  const images = `${base}__fixtures/images/`;
  await panelPage.goto(`${base}?images=${encodeURIComponent(images)}`);
  await panelPage.click('[data-set="demo"] button.load-set');
  await panelPage.click('#model-check summary');
  await panelPage.waitForFunction(() => document.querySelector('.model-backend')?.textContent.startsWith('Backend:'), null, { timeout: 60_000 });
  const backend = await panelPage.textContent('.model-backend');
  assert.match(backend, /webgpu/, backend);
  await panelPage.fill('.model-url', `${base}${FIXTURE_PREFIX}tiny-idefics3/`);
  await panelPage.dispatchEvent('.model-url', 'change');
  await panelPage.selectOption('.quantization', 'none');
  await panelPage.click('.model-load');
  await panelPage.waitForFunction(() => document.querySelector('.model-loaded')?.textContent.startsWith('Loaded'), null, { timeout: 60_000 });
  await panelPage.fill('.model-count', '3');
  await panelPage.dispatchEvent('.model-count', 'change');
  // SwiftShader runs WebGPU on the CPU: a few tokens per answer keep the test short.
  await panelPage.fill('.model-max-tokens', '3');
  await panelPage.dispatchEvent('.model-max-tokens', 'change');
  await panelPage.click('.model-run-button');
  try {
    await panelPage.waitForFunction(() => document.querySelectorAll('.model-answers li').length === 3, null, { timeout: 120_000 });
  } catch (e) {
    const panel = await panelPage.textContent('#model-check');
    throw new Error(`${e.message}\npanel: ${panel}`);
  }
  // The answers became a run: the summary table has its means.
  await panelPage.waitForFunction(
    () => [...document.querySelectorAll('td[data-metric="meteor"][data-value]:not([data-type])')].some((c) => c.dataset.run.includes('model-check')),
    null,
    { timeout: 60_000 },
  );
  const errors = await panelPage.$$eval('.model-error', (e) => e.map((x) => x.textContent));
  assert.deepEqual(errors, []);
  await panelPage.close();
});
