// The model-check worker in headless Chromium: the tiny fixture model (crates/model/tests/fixtures,
// served by the harness) runs on WebGPU (SwiftShader) and on the CPU fallback, its logits match
// transformers' reference, a second load comes from the Cache API, and an answer streams.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import {
  serve, launch, ROOT, MODEL_FIXTURES, FIXTURE_PREFIX, fixtureRequests, collectErrors, assertNoErrors, expectErrors, workerNamed, crashOn, openTab,
} from './harness.mjs';

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
const errors = [];

/** A page in a browser context of its own (its own cache), watched for errors. */
async function newPage() {
  const context = await browser.newContext();
  await collectErrors(context, errors);
  return context.newPage();
}

test.before(async () => {
  ({ server, base } = await serve());
  browser = await launch({ webgpu: true });
  page = await newPage();
  // The page itself is not needed, only its origin (same-origin worker, CSP of index.html).
  await page.goto(base);
  await page.evaluate(installDriver);
});

/** A small driver kept on window: start a worker, send requests, collect events. */
function installDriver() {
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
    const send = async (msg, bytes, files) => {
      await started;
      worker.postMessage({ msg: JSON.stringify(msg), bytes, files });
    };
    return { worker, events, until, send, fixtureUrl };
  };
}

// Every test: no uncaught page error, no worker error event, no panic (unless it provoked one).
test.afterEach(() => assertNoErrors(errors));

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
      await w.send({ type: 'load', job: 1, model: { from: 'url', base_url: modelUrl }, adapter: null, quantization, merge: false });
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

/** page.waitForFunction, failing with the panel's text (its status and errors say why). */
async function waitPanel(panelPage, fn, arg, timeout = 60_000) {
  try {
    await panelPage.waitForFunction(fn, arg, { timeout });
  } catch (e) {
    throw new Error(`${e.message}\npanel: ${await panelPage.textContent('#model-check')}`);
  }
}

/** CRC-32 (zip's), for the test's zip writer. */
function crc32(bytes) {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k += 1) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A zip archive of `entries` ([name, bytes]), deflated, written the way zip tools do. */
function zipArchive(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const packed = zlib.deflateRawSync(data);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, packed);
    centrals.push(central, nameBytes);
    offset += 30 + nameBytes.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** The demo references' image names (the panel tests answer demo questions). */
function demoImages() {
  const names = new Set();
  for (const split of ['positive', 'negative']) {
    const text = fs.readFileSync(path.join(ROOT, 'public/demo', `demo.${split}.references.jsonl`), 'utf8');
    for (const line of text.split('\n').filter((l) => l.trim())) names.add(JSON.parse(line).image);
  }
  return [...names];
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

test('an adapter given as files (not a URL): logits match transformers with the unmerged adapter', async () => {
  const adapterDir = path.join(MODEL_FIXTURES, 'tiny-lora');
  const files = ['adapter_model.safetensors', 'adapter_config.json', 'README.md'];
  const bytes = files.map((f) => (f === 'README.md' ? [...Buffer.from('not wanted')] : [...fs.readFileSync(path.join(adapterDir, f))]));
  const modelUrl = `${base}${FIXTURE_PREFIX}tiny-idefics3/`;
  const loaded = await page.evaluate(
    async ({ modelUrl, files, bytes }) => {
      const w = window.modelWorker(modelUrl);
      window.current = w;
      await w.send({ type: 'init', prefer_gpu: false });
      await w.until((e) => e.type === 'ready');
      const adapter = { from: 'files', names: files.map((f) => `my-lora/${f}`) };
      const missing = { from: 'files', names: ['adapter_model.safetensors'] };
      await w.send({ type: 'load', job: 9, model: { from: 'url', base_url: modelUrl }, adapter: missing, quantization: 'none', merge: false }, undefined, [new Uint8Array(bytes[0])]);
      const bad = await w.until((e) => (e.type === 'loaded' || e.type === 'error') && e.job === 9);
      await w.send({ type: 'load', job: 10, model: { from: 'url', base_url: modelUrl }, adapter, quantization: 'none', merge: false }, undefined, bytes.map((b) => new Uint8Array(b)));
      const good = await w.until((e) => (e.type === 'loaded' || e.type === 'error') && e.job === 10);
      return { bad, good };
    },
    { modelUrl, files, bytes },
  );
  assert.equal(loaded.bad.type, 'error');
  assert.equal(loaded.bad.message, 'adapter: adapter_config.json is missing among the files given (adapter_model.safetensors)');
  assert.equal(loaded.good.type, 'loaded', loaded.good.message);
  const logits = await prefillLogits();
  assert.equal(logits.type, 'logits', logits.message);
  const expected = safetensor(path.join(MODEL_FIXTURES, 'reference.safetensors'), 'lora_unmerged.prefill_logits');
  const diff = maxDiff(logits.values, expected);
  console.log(`adapter from files: max |logit - transformers| = ${diff.toExponential(2)}`);
  assert.ok(diff <= TOLERANCE, `${diff}`);
  // And it is the adapter that made the difference: the base logits differ.
  assert.ok(maxDiff(logits.values, expectedLogits) > 1e-2);
});

test('cancel stops an answer on the CPU fallback within a few tokens', async () => {
  const png = [...fs.readFileSync(path.join(MODEL_FIXTURES, 'fixture-image.png'))];
  const result = await page.evaluate(
    async ({ png, question }) => {
      const w = window.current;
      await w.send({ type: 'generate', job: 20, question, image_name: 'x.png', max_new_tokens: 60, adapter_enabled: false }, new Uint8Array(png));
      await w.until((e) => e.type === 'token' && e.job === 20);
      await w.send({ type: 'cancel', job: 20 });
      return w.until((e) => (e.type === 'answer' || e.type === 'error') && e.job === 20);
    },
    { png, question: QUESTION },
  );
  assert.equal(result.type, 'answer', result.message);
  assert.equal(result.cancelled, true);
  assert.ok(result.generated_tokens < 60, `${result.generated_tokens} tokens`);
});

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

test('a full storage quota is said plainly; the model still loads', async () => {
  const quotaPage = await newPage();
  await quotaPage.goto(base);
  const cdp = await quotaPage.context().newCDPSession(quotaPage);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(base).origin, quotaSize: 20_000 });
  await quotaPage.evaluate(installDriver);
  const modelUrl = `${base}${FIXTURE_PREFIX}tiny-idefics3/`;
  const loaded = await quotaPage.evaluate(async (modelUrl) => {
    const w = window.modelWorker(modelUrl);
    await w.send({ type: 'init', prefer_gpu: false });
    await w.send({ type: 'load', job: 1, model: { from: 'url', base_url: modelUrl }, adapter: null, quantization: 'none', merge: false });
    return w.until((e) => (e.type === 'loaded' || e.type === 'error') && e.job === 1);
  }, modelUrl);
  await quotaPage.close();
  assert.equal(loaded.type, 'loaded', loaded.message);
  assert.match(loaded.cache_error, /tiny-idefics3\/[a-z_.]+ \(\d+ kB\) was not cached: this site's storage quota is full, so it will download again/);
});

test('the panel: load the tiny model, answer 3 demo questions, see them scored as a run', async () => {
  const panelPage = await newPage();
  const images = `${base}__fixtures/images/`;
  await panelPage.goto(`${base}?images=${encodeURIComponent(images)}`);
  await panelPage.click('[data-set="demo"] button.load-set');
  // The first run reads its images from the image base URL; a second one below from a zip.
  await openTab(panelPage, 'model');
  await panelPage.waitForSelector('#model-check > details[open]');
  await panelPage.waitForFunction(() => document.querySelector('.model-backend')?.textContent.startsWith('Backend:'), null, { timeout: 60_000 });
  const backend = await panelPage.textContent('.model-backend');
  assert.match(backend, /webgpu/, backend);
  // On WebGPU the panel preselects f32 and says why (quantized weights are expanded for every
  // product there); headless Chromium here reports 8 GB of device memory.
  await panelPage.waitForFunction(() => document.querySelector('.quantization')?.value === 'none');
  assert.match(await panelPage.textContent('.model-weights-why'), /^f32 preselected: on WebGPU/);
  await panelPage.fill('.model-url', `${base}${FIXTURE_PREFIX}tiny-idefics3/`);
  await panelPage.dispatchEvent('.model-url', 'change');
  await panelPage.selectOption('.quantization', 'none');
  await panelPage.click('.model-load');
  await waitPanel(panelPage, () => document.querySelector('.model-loaded')?.textContent.startsWith('Loaded'));
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
  // Each answer says where its time went, stage by stage.
  const timings = await panelPage.$$eval('.model-timings', (e) => e.map((x) => x.textContent));
  assert.equal(timings.length, 3, timings.join(' | '));
  for (const t of timings) {
    assert.match(t, /^Where the time went: image preprocessing [\d.]+ m?s, vision encoder [\d.]+ m?s, connector [\d.]+ m?s, prefill [\d.]+ m?s, (\d+ decoding steps?|no decoding step)/, t);
    // On WebGPU the worker counts the GPU kernels each stage launched.
    assert.match(t, /; GPU kernels: images [1-9]\d*, prefill [1-9]\d*(, [1-9]\d* a decoding step)?\.$/, t);
  }
  // The answers became a run: the summary table has its means.
  await panelPage.waitForFunction(
    () => [...document.querySelectorAll('td[data-metric="meteor"][data-value]:not([data-type])')].some((c) => c.dataset.run.includes('model-check')),
    null,
    { timeout: 60_000 },
  );
  const errors = await panelPage.$$eval('.model-error', (e) => e.map((x) => x.textContent));
  assert.deepEqual(errors, []);

  // A zip of the images (read one entry at a time) and the adapter picked as files.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medhall-panel-'));
  const png = fs.readFileSync(path.join(MODEL_FIXTURES, 'fixture-image.png'));
  const zipPath = path.join(dir, 'MedHallTune-images.zip');
  fs.writeFileSync(zipPath, zipArchive([['images/', Buffer.alloc(0)], ...demoImages().map((n) => [`images/${n}`, png])]));
  await panelPage.setInputFiles('.model-images-zip', zipPath);
  await panelPage.waitForFunction(() => document.querySelector('.model-images-source')?.textContent.includes('in MedHallTune-images.zip'));
  const lora = path.join(MODEL_FIXTURES, 'tiny-lora');
  await panelPage.setInputFiles('.adapter-files', [path.join(lora, 'adapter_config.json'), path.join(lora, 'adapter_model.safetensors')]);
  await panelPage.click('.model-load');
  await waitPanel(panelPage, () => document.querySelector('.model-loaded')?.textContent.startsWith('Loaded'));
  await panelPage.fill('.model-seed', '2');
  await panelPage.dispatchEvent('.model-seed', 'change');
  await panelPage.click('.model-run-button');
  await panelPage.waitForFunction(
    () => [...document.querySelectorAll('td[data-metric="meteor"][data-value]:not([data-type])')].some((c) => c.dataset.run.includes('seed2')),
    null,
    { timeout: 120_000 },
  ).catch(async (e) => {
    throw new Error(`${e.message}\npanel: ${await panelPage.textContent('#model-check')}`);
  });
  assert.deepEqual(await panelPage.$$eval('.model-error', (e) => e.map((x) => x.textContent)), []);
  assert.match(await panelPage.textContent('.model-status'), /Answered 3 questions\./);
  await panelPage.close();
});

test('the panel: images dropped as a zip, then from a picked folder; Stop keeps the finished answers', async () => {
  const panelPage = await newPage();
  await panelPage.goto(base);
  await panelPage.click('[data-set="demo"] button.load-set');
  await openTab(panelPage, 'model');
  await panelPage.waitForSelector('#model-check > details[open]');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medhall-folder-'));
  const folder = path.join(dir, 'MedHallTune');
  fs.mkdirSync(path.join(folder, 'images'), { recursive: true });
  const png = fs.readFileSync(path.join(MODEL_FIXTURES, 'fixture-image.png'));
  for (const name of demoImages()) fs.writeFileSync(path.join(folder, 'images', name), png);
  fs.writeFileSync(path.join(folder, 'README.txt'), 'not an image');
  // A zip dropped on the panel (a synthetic drop: the drop handler, not the file inputs)…
  const zipped = zipArchive(demoImages().map((n) => [n, png]));
  const transfer = await panelPage.evaluateHandle((bytes) => {
    const t = new DataTransfer();
    t.items.add(new File([new Uint8Array(bytes)], 'dropped-images.zip', { type: 'application/zip' }));
    return t;
  }, [...zipped]);
  await panelPage.dispatchEvent('.model-images', 'drop', { dataTransfer: transfer });
  await waitPanel(panelPage, () => /files in dropped-images\.zip/.test(document.querySelector('.model-images-source')?.textContent));
  // …then replaced by a picked folder.
  await panelPage.setInputFiles('.model-images-folder', folder);
  await panelPage.waitForFunction(() => /files from the picked folder/.test(document.querySelector('.model-images-source')?.textContent));
  await panelPage.fill('.model-url', `${base}${FIXTURE_PREFIX}tiny-idefics3/`);
  await panelPage.dispatchEvent('.model-url', 'change');
  // The choices show the model's weight sizes, computed from its config.json before loading,
  // once asked (a click: nothing is requested when the panel opens or the URL changes).
  await panelPage.waitForTimeout(300);
  assert.ok(!/weights/.test(await panelPage.textContent('.quantization')), 'no sizes before the click');
  await panelPage.click('.model-sizes');
  await waitPanel(panelPage, () => /weights [\d.]+ MB/.test(document.querySelector('.quantization option[value="none"]')?.textContent));
  const labels = await panelPage.$$eval('.quantization option', (o) => o.map((x) => x.textContent));
  const mb = (label) => Number(label.match(/weights ([\d.]+) MB/)[1]);
  assert.ok(mb(labels[1]) <= mb(labels[0]) && mb(labels[0]) < mb(labels[2]), labels.join(' | '));
  await panelPage.selectOption('.quantization', 'none');
  await panelPage.click('.model-load');
  await waitPanel(panelPage, () => document.querySelector('.model-loaded')?.textContent.startsWith('Loaded'));
  const loadedMb = Number((await panelPage.textContent('.model-loaded')).match(/Loaded: ([\d.]+) MB/)[1]);
  assert.equal(loadedMb, mb(labels[2]), 'the f32 label is the loaded size');
  await panelPage.fill('.model-count', '6');
  await panelPage.dispatchEvent('.model-count', 'change');
  // Only one hallucination type (the demo's negative shard has a hallucination_type field).
  await panelPage.fill('.model-type', 'object manipulation');
  await panelPage.dispatchEvent('.model-type', 'change');
  await panelPage.fill('.model-max-tokens', '2');
  await panelPage.dispatchEvent('.model-max-tokens', 'change');
  await panelPage.click('.model-run-button');
  await waitPanel(panelPage, () => document.querySelectorAll('.model-answers li').length >= 1, null, 120_000);
  await panelPage.click('.model-stop');
  await waitPanel(panelPage, () => /stopped/.test(document.querySelector('.model-status')?.textContent), null, 120_000);
  const asked = await panelPage.$$eval('.model-answers li .q', (l) => l.map((q) => q.textContent));
  const answered = asked.length;
  assert.ok(answered >= 1 && answered < 6, `${answered} answers`);
  const ofType = fs
    .readFileSync(path.join(ROOT, 'public/demo/demo.negative.references.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l))
    .filter((r) => r.hallucination_type === 'object manipulation')
    .map((r) => r.text.replace('\n<image>', '').trim());
  for (const q of asked) assert.ok(ofType.includes(q), `not an object-manipulation question: ${q}`);
  assert.deepEqual(await panelPage.$$eval('.model-error', (e) => e.map((x) => x.textContent)), []);
  // The kept answers are a run.
  await panelPage.waitForFunction(
    (n) => [...document.querySelectorAll('td[data-metric="meteor"][data-value]:not([data-type])')].some((c) => c.dataset.run.includes(`model-check none n${n} seed1`)),
    answered,
    { timeout: 60_000 },
  );
  await panelPage.close();
});

test('the panel: a crashed model worker fails the pending answer, ends the run, and can be restarted', async () => {
  const panelPage = await newPage();
  await panelPage.goto(`${base}?images=${encodeURIComponent(`${base}__fixtures/images/`)}`);
  await panelPage.click('[data-set="demo"] button.load-set');
  await openTab(panelPage, 'model');
  await panelPage.waitForSelector('#model-check > details[open]');
  await waitPanel(panelPage, () => document.querySelector('.model-backend')?.textContent.startsWith('Backend:'));
  await panelPage.fill('.model-url', `${base}${FIXTURE_PREFIX}tiny-idefics3/`);
  await panelPage.dispatchEvent('.model-url', 'change');
  await panelPage.selectOption('.quantization', 'none');
  await panelPage.click('.model-load');
  await waitPanel(panelPage, () => document.querySelector('.model-loaded')?.textContent.startsWith('Loaded'));
  // The worker dies on the first question (an uncaught error, as a panic's trap would be).
  await crashOn(await workerNamed(panelPage, 'medhall-model-worker'), 'generate');
  await panelPage.fill('.model-count', '3');
  await panelPage.dispatchEvent('.model-count', 'change');
  await panelPage.click('.model-run-button');
  await waitPanel(panelPage, () => /The model worker stopped \(.*simulated crash on generate/.test(document.querySelector('.model-error')?.textContent));
  await waitPanel(panelPage, () => !document.querySelector('.model-status')?.textContent.startsWith('Answering'));
  assert.match(await panelPage.textContent('.model-status'), /Answered 0 questions; 1 could not be answered/);
  assert.match(await panelPage.textContent('.model-backend'), /stopped/);
  assert.ok(await panelPage.isDisabled('.model-run-button'), 'no model is loaded any more');
  assert.equal(expectErrors(errors, /simulated crash on generate/).length, 1, 'the crash was seen as a worker error');
  // Restarted, the worker loads the model again.
  await panelPage.click('.model-restart');
  await waitPanel(panelPage, () => document.querySelector('.model-backend')?.textContent.startsWith('Backend:'));
  await panelPage.click('.model-load');
  await waitPanel(panelPage, () => document.querySelector('.model-loaded')?.textContent.startsWith('Loaded'));
  await panelPage.close();
});

test('a model folder whose processor config does not resize: an image of another size is an error, not a crash', async () => {
  const modelUrl = `${base}${FIXTURE_PREFIX}tiny-idefics3-inconsistent/`;
  const png = [...fs.readFileSync(path.join(MODEL_FIXTURES, 'fixture-image.png'))];
  const result = await page.evaluate(
    async ({ modelUrl, png }) => {
      const w = window.modelWorker(modelUrl);
      await w.send({ type: 'init', prefer_gpu: false });
      await w.until((e) => e.type === 'ready');
      await w.send({ type: 'load', job: 1, model: { from: 'url', base_url: modelUrl }, adapter: null, quantization: 'none', merge: false });
      const loaded = await w.until((e) => (e.type === 'loaded' || e.type === 'error') && e.job === 1);
      await w.send({ type: 'generate', job: 2, question: 'What is it?', image_name: 'fixture-image.png', max_new_tokens: 2, adapter_enabled: false }, new Uint8Array(png));
      const answer = await w.until((e) => (e.type === 'answer' || e.type === 'error') && e.job === 2);
      // The worker is alive: it answers the next request.
      await w.send({ type: 'generate', job: 3, question: 'What is it?', image_name: 'fixture-image.png', max_new_tokens: 2, adapter_enabled: false }, new Uint8Array(png));
      const again = await w.until((e) => (e.type === 'answer' || e.type === 'error') && e.job === 3);
      w.worker.terminate();
      return { loaded, answer, again };
    },
    { modelUrl, png },
  );
  assert.equal(result.loaded.type, 'loaded', result.loaded.message);
  assert.equal(result.answer.type, 'error');
  assert.match(result.answer.message, /fixture-image\.png.*40×30.*do_resize.*64×64/);
  assert.equal(result.again.type, 'error', 'the worker still answers');
});
