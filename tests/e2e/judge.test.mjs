// End-to-end test of the "Run the judge" panel against a fake OpenAI-compatible server on
// 127.0.0.1 (started and closed here): a 20-row run judged with a reload mid-run, resumed
// without asking again for any sample whose verdict was kept; the judge columns fill in; the API
// key is found in no storage, no URL and no request to a host other than the endpoint; an
// endpoint that does not allow the page's origin (CORS) gets a message that says so.
// Run by scripts/test.sh after the Trunk build: node --test tests/e2e/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve, launch, waitForSummary, collectErrors, assertNoErrors, openTab } from './harness.mjs';

const KEY = 'sk-medhall-e2e-7f3a9c1d5b';
const ROWS = 20;
const RUN = 'judge-me.negative.jsonl';
const VERDICT = '7 8 6 5';
const REPLY_MODEL = 'gpt-4o-2024-08-06';

/** Which sample a request is for: the question text carries its number. */
function sampleOf(body) {
  const user = body?.messages?.[1]?.content ?? '';
  const match = /marker Q(\d+)X/.exec(user);
  return match ? Number(match[1]) : null;
}

/** The fake endpoint's hallucination type for a sample (sample 7's reply names none). */
function typeReply(sample) {
  if (sample === 7) return 'I am not sure.';
  return ['Nonexistent object\nNo such device is visible.', 'object manipulation', '3. knowledge distortion'][sample % 3];
}

/**
 * A fake chat-completions endpoint. Under /v1/ it allows any origin (CORS, preflight
 * answered); under /nocors/v1/ it answers without CORS headers, as a server that does not
 * allow the page. Replies take `delayMs`; sample 5's first request gets 429 with Retry-After.
 * Counts requests per sample and phase.
 */
async function fakeEndpoint({ delayMs }) {
  const state = { phase: 1, counts: { 1: {}, 2: {} }, posts: [], limited: false };
  const server = http.createServer((req, res) => {
    const cors = req.url.startsWith('/v1/');
    const headers = cors
      ? {
          'access-control-allow-origin': req.headers.origin || '*',
          'access-control-allow-headers': 'authorization, content-type',
          'access-control-allow-methods': 'POST, OPTIONS',
          'access-control-expose-headers': 'retry-after',
        }
      : {};
    if (req.method === 'OPTIONS') {
      res.writeHead(204, headers).end();
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body = null;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = null;
      }
      const sample = sampleOf(body);
      state.posts.push({ url: req.url, authorization: req.headers.authorization, sample, phase: state.phase, model: body?.model });
      if (!req.url.endsWith('/chat/completions') || sample === null) {
        res.writeHead(400, { ...headers, 'content-type': 'application/json' }).end('{"error":{"message":"bad request"}}');
        return;
      }
      const counts = state.counts[state.phase];
      counts[sample] = (counts[sample] || 0) + 1;
      if (sample === 5 && !state.limited) {
        state.limited = true;
        res.writeHead(429, { ...headers, 'retry-after': '1', 'content-type': 'application/json' })
          .end('{"error":{"message":"slow down"}}');
        return;
      }
      // A request for a hallucination type (the panel's type labelling) gets a type.
      const typeAsked = (body?.messages?.[1]?.content ?? '').includes("Classify the question's false premise");
      const content = typeAsked ? typeReply(sample) : `${VERDICT}\nThe answer to sample ${sample} is close.`;
      setTimeout(() => {
        if (res.destroyed) return;
        res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify({
          id: `chatcmpl-${sample}`,
          object: 'chat.completion',
          model: REPLY_MODEL,
          choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 250, completion_tokens: 12, total_tokens: 262 },
        }));
      }, delayMs);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return { server, state, origin: `http://127.0.0.1:${port}` };
}

function writeFixtures(dir) {
  const question = (i) => `What does marker Q${i}X show on this image?`;
  const lines = (f) => Array.from({ length: ROWS }, (_, i) => JSON.stringify(f(i))).join('\n') + '\n';
  const refs = path.join(dir, 'judge-refs.negative.jsonl');
  fs.writeFileSync(refs, lines((i) => ({ question_id: i, text: question(i), gpt4_answer: `Reference answer ${i}.`, fig_caption: `Figure ${i}: a chest X-ray.` })));
  const run = path.join(dir, RUN);
  fs.writeFileSync(run, lines((i) => ({ question_id: i, question: question(i), answer: `Model answer ${i}.` })));
  const calibration = path.join(dir, 'llava-med-cal.negative.gpt4o-eval.jsonl');
  fs.writeFileSync(calibration, lines((i) => ({
    question_id: i, question: question(i), answer: `LLaVA-Med answer ${i}.`, gpt4_answer: `Reference answer ${i}.`,
    fig_caption: `Figure ${i}: a chest X-ray.`, result: `6 6 6 6\nCalibration verdict ${i}.`,
  })));
  return { refs, run, calibration };
}

/** Every IndexedDB record (with its Blobs' text), localStorage, sessionStorage, Cache API entry and the URL. */
async function dumpStorage(page) {
  return page.evaluate(async () => {
    const out = { indexedDb: [], local: [], session: [], caches: [], url: location.href, cookie: document.cookie };
    const request = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
    for (const { name } of await indexedDB.databases()) {
      const db = await request(indexedDB.open(name));
      for (const store of db.objectStoreNames) {
        for (const value of await request(db.transaction(store).objectStore(store).getAll())) {
          let text = JSON.stringify(value);
          for (const field of Object.values(value ?? {})) if (field instanceof Blob) text += await field.text();
          out.indexedDb.push(`${name}/${store}: ${text}`);
        }
      }
      db.close();
    }
    for (let i = 0; i < localStorage.length; i += 1) out.local.push(`${localStorage.key(i)}=${localStorage.getItem(localStorage.key(i))}`);
    for (let i = 0; i < sessionStorage.length; i += 1) out.session.push(`${sessionStorage.key(i)}=${sessionStorage.getItem(sessionStorage.key(i))}`);
    if (globalThis.caches) {
      for (const name of await caches.keys()) {
        const cache = await caches.open(name);
        for (const req of await cache.keys()) out.caches.push(`${name}: ${req.url} ${await (await cache.match(req)).text()}`);
      }
    }
    return out;
  });
}

/** The kept verdicts' question ids for the test run. */
async function keptVerdicts(page) {
  return page.evaluate(async () => {
    const request = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
    const db = await request(indexedDB.open('medhall-lens-judge'));
    const values = await request(db.transaction('verdicts').objectStore('verdicts').getAll());
    db.close();
    return values.map((v) => JSON.parse(v.verdict)).map((v) => ({ id: Number(v.question_id), result: v.result, split: v.split, model: v.model, endpoint: v.endpoint, replyModel: v.reply_model }));
  });
}

const progress = (page) => page.$eval('#judge-progress', (p) => ({ ...p.dataset, text: p.textContent }));

async function openPanel(page) {
  await openTab(page, 'judge');
  await page.waitForSelector('#judge > details[open]');
  await page.waitForFunction((n) => document.querySelector('#judge-estimate')?.dataset.items === String(n), ROWS, { timeout: 60_000 });
}

async function fillSettings(page, endpoint) {
  await page.fill('#judge-endpoint', endpoint);
  await page.fill('#judge-key', KEY);
  await page.fill('#judge-concurrency', '2');
}

test('the judge panel judges a run, resumes after a reload without asking again, and keeps the key nowhere', { timeout: 300_000 }, async (t) => {
  const site = await serve();
  const fake = await fakeEndpoint({ delayMs: 700 });
  const browser = await launch();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medhall-judge-'));
  // Closed even when an assertion fails (else node --test waits on open handles).
  t.after(async () => {
    await browser.close();
    site.server.close();
    fake.server.closeAllConnections?.();
    fake.server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const context = await browser.newContext();
  const errors = await collectErrors(context);
  const requests = [];
  context.on('request', (r) => requests.push({ url: r.url(), headers: r.headers(), body: r.postData() ?? '' }));

  const files = writeFixtures(tmp);
  const page = await context.newPage();
  await page.goto(site.base);
  await page.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });
  await page.setInputFiles('#shard-files', [files.refs]);
  await page.setInputFiles('#results-input', [files.run, files.calibration]);
  await waitForSummary(page, 2);
  await openPanel(page);
  const estimate = await page.$eval('#judge-estimate', (p) => ({ ...p.dataset, text: p.textContent }));
  assert.equal(estimate.requests, String(ROWS));
  assert.match(estimate.text, /llava-med-cal\.negative\.gpt4o-eval\.jsonl/, 'the llava-med run calibrates by default');
  assert.match(estimate.text, /\$\d+\.\d\d/, 'a cost estimate before starting');

  // An endpoint that does not allow this page's origin: stopped, with what it must allow.
  await fillSettings(page, `${fake.origin}/nocors/v1`);
  await page.click('#judge-start');
  await page.waitForSelector('.judge-error', { timeout: 30_000 });
  const corsError = await page.$eval('.judge-error', (p) => p.textContent);
  assert.match(corsError, /Access-Control-Allow-Origin/);
  assert.match(corsError, /Authorization/);
  await page.waitForFunction(() => document.querySelector('#judge-progress')?.dataset.running === 'false');
  assert.equal((await progress(page)).judged, '0');

  // The real run; reloaded once a few verdicts are in.
  await page.fill('#judge-endpoint', `${fake.origin}/v1`);
  await page.click('#judge-start');
  await page.waitForFunction(() => Number(document.querySelector('#judge-progress')?.dataset.judged) >= 6, null, { timeout: 60_000 });
  const before = await progress(page);
  assert.equal(before.running, 'true', `still running at the reload: ${before.text}`);
  await page.reload();
  await page.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });
  await waitForSummary(page, 2);
  assert.equal(await page.inputValue('#judge-key').catch(() => ''), '', 'the key is gone after a reload');

  // Reopened: the kept verdicts are applied and counted as judged.
  await openPanel(page);
  await page.waitForFunction(() => Number(document.querySelector('#judge-estimate')?.dataset.restored) >= 6, null, { timeout: 30_000 })
    .catch(async (e) => {
      const shown = await page.$eval('#judge-estimate', (p) => JSON.stringify({ ...p.dataset, text: p.textContent })).catch(() => 'no estimate');
      throw new Error(`${e.message}; estimate: ${shown}; kept: ${JSON.stringify(await keptVerdicts(page).catch((x) => String(x)))}`);
    });
  const kept = await keptVerdicts(page);
  const keptIds = new Set(kept.map((v) => v.id));
  const restored = Number(await page.$eval('#judge-estimate', (p) => p.dataset.restored));
  assert.equal(restored, keptIds.size, 'every kept verdict is restored');
  assert.ok(keptIds.size < ROWS, 'the reload came mid-run');
  assert.equal(await page.$eval('#judge-estimate', (p) => p.dataset.requests), String(ROWS - keptIds.size));
  // The restored verdicts fill the judge columns before anything more is asked.
  await page.waitForSelector(`td[data-run="${RUN}"][data-metric="clinical_accuracy"]:not([data-type])`, { state: 'attached', timeout: 30_000 });

  fake.state.phase = 2;
  assert.equal(await page.inputValue('#judge-key'), '');
  await fillSettings(page, `${fake.origin}/v1`);
  await page.click('#judge-start');
  await page.waitForFunction((n) => {
    const p = document.querySelector('#judge-progress')?.dataset;
    return p && p.running === 'false' && Number(p.judged) === n;
  }, ROWS, { timeout: 120_000 });
  const after = await progress(page);
  assert.equal(after.failed, '0', after.text);

  // No sample kept before the reload was asked again; every other one was.
  const asked = fake.state.counts[2];
  for (const id of keptIds) assert.equal(asked[id] ?? 0, 0, `sample ${id} was kept before the reload and asked again`);
  for (let id = 0; id < ROWS; id += 1) if (!keptIds.has(id)) assert.ok(asked[id] >= 1, `sample ${id} never asked after the reload`);
  const allKept = await keptVerdicts(page);
  assert.deepEqual([...new Set(allKept.map((v) => v.id))].sort((a, b) => a - b), [...Array(ROWS).keys()]);
  assert.ok(allKept.every((v) => v.split === 'negative' && v.result.startsWith(VERDICT)));
  // Each kept verdict names its judge (model as sent, endpoint host), and so does the run.
  const host = new URL(fake.origin).host;
  assert.ok(allKept.every((v) => v.model === 'gpt-4o' && v.endpoint === host), JSON.stringify(allKept[0]));
  // And the model the reply itself named (the dated snapshot behind the alias), as the CLI's lines do.
  assert.ok(allKept.every((v) => v.replyModel === REPLY_MODEL), JSON.stringify(allKept[0]));
  const label = `gpt-4o @ ${host} (api-defaults, medhalltune-agent.py/1)`;
  await page.waitForFunction(([run, label]) => [...document.querySelectorAll('tr[data-run-id]')].some((tr) =>
    tr.querySelector('input.run-name')?.value === run && tr.querySelector('.judge-names')?.textContent === label), [RUN, label], { timeout: 30_000 })
    .catch(async () => assert.fail(`the runs table does not name the judge: ${JSON.stringify(await page.$$eval('tr[data-run-id]', (rows) => rows.map((r) => [r.querySelector('input.run-name')?.value, r.querySelector('.judge-names')?.textContent])))}`));
  assert.ok(fake.state.posts.some((p) => p.sample === 5 && p.phase >= 1), 'sample 5 was asked');
  assert.ok(fake.state.limited, 'the 429 was served');
  assert.ok(fake.state.posts.every((p) => p.authorization === `Bearer ${KEY}` && p.model === 'gpt-4o'));

  // The judge columns: every sample's verdict, as a judge-eval file would give them.
  await page.waitForFunction((run) => {
    const cell = document.querySelector(`td[data-run="${run}"][data-metric="clinical_accuracy"]:not([data-type])`);
    return cell && /n = 20\b/.test(cell.title);
  }, RUN, { timeout: 60_000 });
  const judged = await page.$$eval(`td[data-run="${RUN}"]:not([data-type])`, (cells) => Object.fromEntries(cells.map((c) => [c.dataset.metric, Number(c.dataset.value)])));
  assert.deepEqual(
    [judged.clinical_accuracy, judged.clinical_relevance, judged.detail_level, judged.risk_level],
    [7, 8, 6, 5],
    JSON.stringify(judged),
  );
  console.log(`e2e judge: ${keptIds.size} verdicts kept before the reload, ${Object.values(asked).reduce((a, b) => a + b, 0)} requests after it, ${fake.state.posts.length} in all`);

  // The key: in no storage, no URL, no request to another host.
  const dump = await dumpStorage(page);
  assert.ok(dump.indexedDb.some((r) => r.startsWith('medhall-lens-judge/verdicts')), 'the verdicts were read');
  assert.ok(dump.indexedDb.some((r) => r.startsWith('medhall-lens/items')), 'the stored files were read');
  const text = JSON.stringify(dump);
  assert.ok(!text.includes(KEY), 'the API key is in the page storage');
  assert.ok(!page.url().includes(KEY));
  const allowed = new Set([site.origin, fake.origin]);
  for (const r of requests) {
    if (!/^https?:/.test(r.url)) continue;
    assert.ok(allowed.has(new URL(r.url).origin), `a request to another host: ${r.url}`);
    assert.ok(!r.url.includes(KEY), `the key in a URL: ${r.url}`);
    assert.ok(!r.body.includes(KEY), `the key in a request body: ${r.url}`);
    if (JSON.stringify(r.headers).includes(KEY)) assert.equal(new URL(r.url).origin, fake.origin, `the key sent to ${r.url}`);
  }
  assert.ok(requests.some((r) => r.url.startsWith(fake.origin) && r.headers.authorization === `Bearer ${KEY}`));
  await assertNoErrors(errors, page);
});

test('the judge panel labels the negative questions with hallucination types, marked as the model\'s, kept across a reload', { timeout: 300_000 }, async (t) => {
  const site = await serve();
  const fake = await fakeEndpoint({ delayMs: 50 });
  const browser = await launch();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medhall-types-'));
  t.after(async () => {
    await browser.close();
    site.server.close();
    fake.server.closeAllConnections?.();
    fake.server.close();
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
  await openTab(page, 'judge');
  await page.waitForSelector('#judge > details[open]');
  await page.selectOption('#judge-mode', 'types');
  await page.waitForFunction((n) => {
    const e = document.querySelector('#judge-estimate');
    return e?.dataset.items === String(n) && /medhall-types-1/.test(e.textContent);
  }, ROWS, { timeout: 60_000 });
  assert.equal(await page.$eval('#judge-estimate', (p) => p.dataset.requests), String(ROWS));
  await fillSettings(page, `${fake.origin}/v1`);
  await page.click('#judge-start');
  await page.waitForFunction((n) => {
    const p = document.querySelector('#judge-progress')?.dataset;
    return p && p.running === 'false' && Number(p.judged) === n;
  }, ROWS, { timeout: 120_000 });
  assert.equal((await progress(page)).failed, '0');
  // The run's means per type: the types are shown as the model's labels.
  const typeCell = (type) => `td[data-run="${RUN}"][data-metric="meteor"][data-type="${type}"]`;
  await page.waitForSelector(typeCell('object manipulation (labelled by gpt-4o)'), { state: 'attached', timeout: 60_000 });
  const types = await page.$$eval(`td[data-run="${RUN}"][data-metric="meteor"][data-type]`, (cells) => [...new Set(cells.map((c) => c.dataset.type))].sort());
  assert.deepEqual(types, [
    'knowledge distortion (labelled by gpt-4o)',
    'nonexistent object (labelled by gpt-4o)',
    'object manipulation (labelled by gpt-4o)',
    'unlabelled',
  ], 'sample 7 named no type');
  // Kept across a reload: reopened, nothing is left to ask and the labels are back.
  await page.reload();
  await page.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });
  await waitForSummary(page, 1);
  await openTab(page, 'judge');
  await page.waitForSelector('#judge > details[open]');
  await page.selectOption('#judge-mode', 'types');
  await page.waitForFunction(() => document.querySelector('#judge-estimate')?.dataset.requests === '0', null, { timeout: 60_000 });
  await page.waitForSelector(typeCell('nonexistent object (labelled by gpt-4o)'), { state: 'attached', timeout: 60_000 });
  assert.ok(fake.state.posts.every((p) => p.authorization === `Bearer ${KEY}`));
  const dump = await dumpStorage(page);
  assert.ok(!JSON.stringify(dump).includes(KEY), 'the API key is in the page storage');
  await assertNoErrors(errors, page);
});
