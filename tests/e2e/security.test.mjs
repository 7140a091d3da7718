// End-to-end checks of what the page lets run and what it keeps: the Content-Security-Policy of
// the built page (no 'unsafe-inline' scripts; Trunk's inline loader is allowed by its hash and
// nothing is blocked), and typed URLs stored without their query (a token there must not land in
// IndexedDB or in a run name). Run by scripts/test.sh after the Trunk build.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DIST, serve, launch, waitForSummary, collectErrors, assertNoErrors, openTab } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await serve();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.server.close();
});

/** Every CSP violation and CSP console message of `page`, from its first script on. */
async function watchCsp(page) {
  const seen = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) seen.push(`console: ${m.text()}`);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return seen;
}

test("dist/index.html allows inline scripts by hash only, and the page starts with no CSP violation", async () => {
  const html = fs.readFileSync(path.join(DIST, 'index.html'), 'utf8');
  const policy = html.match(/http-equiv="Content-Security-Policy"\s+content="([^"]*)"/)?.[1];
  assert.ok(policy, 'a CSP meta tag');
  const scriptSrc = policy.split(';').map((d) => d.trim()).find((d) => d.startsWith('script-src'));
  assert.ok(scriptSrc, policy);
  assert.ok(!scriptSrc.includes("'unsafe-inline'"), scriptSrc);
  const inline = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)].filter(([, attrs]) => !/\bsrc\s*=/.test(attrs));
  assert.ok(inline.length > 0, "Trunk's loader is inline");
  for (const [, , text] of inline) {
    const hash = crypto.createHash('sha256').update(text).digest('base64');
    assert.ok(scriptSrc.includes(`'sha256-${hash}'`), `${scriptSrc} lacks the hash of an inline script`);
  }

  const context = await browser.newContext();
  const errors = await collectErrors(context);
  const page = await context.newPage();
  const csp = await watchCsp(page);
  await page.goto(server.base);
  await page.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });
  // The demo set exercises the scoring worker, fetches and the charts (SVG with hover areas).
  await page.click('.shard-set[data-set="demo"] .load-set');
  await waitForSummary(page, 2);
  await openTab(page, 'results');
  await page.waitForSelector('.chart svg rect.hit', { timeout: 60_000 });
  await assertNoErrors(errors, page);
  assert.deepEqual(csp, []);
  await context.close();
});

test('a typed URL is requested in full but stored, restored and named without its query', async () => {
  const context = await browser.newContext();
  const errors = await collectErrors(context);
  const requested = [];
  context.on('request', (r) => requested.push(r.url()));
  const page = await context.newPage();
  await page.goto(server.base);
  await page.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });

  const secret = 'token=s3cret';
  await page.fill('input[type="url"]', `${server.base}demo/demo.negative.references.jsonl?${secret}`);
  await page.click('text=Load URL');
  await page.fill('input[type="url"]', `${server.base}demo/demo-model-a.negative.predictions.jsonl?${secret}#frag`);
  await page.getByLabel('it is a results file').check();
  await page.click('text=Load URL');
  await waitForSummary(page, 1);
  assert.ok(requested.some((u) => u.includes(secret)), 'the request itself keeps the query');

  const runs = async () => page.$$eval('td[data-run]', (cells) => [...new Set(cells.map((c) => c.dataset.run))]);
  assert.deepEqual(await runs(), ['demo-model-a.negative.predictions.jsonl']);

  // What IndexedDB holds (read once the app has written both items).
  const stored = async () => page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('medhall-lens', 1);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const all = db.transaction('items').objectStore('items').getAll();
      all.onerror = () => reject(all.error);
      all.onsuccess = () => {
        db.close();
        resolve(all.result.map((r) => r.meta));
      };
    };
  }));
  let metas = [];
  for (let i = 0; i < 50 && metas.length < 2; i += 1) {
    metas = await stored();
    if (metas.length < 2) await page.waitForTimeout(100);
  }
  assert.equal(metas.length, 2, metas.join('\n'));
  for (const meta of metas) {
    assert.ok(!meta.includes('s3cret') && !meta.includes('#frag'), meta);
  }

  // A reload restores both from the stored URLs.
  await page.reload();
  await waitForSummary(page, 1);
  assert.deepEqual(await runs(), ['demo-model-a.negative.predictions.jsonl']);
  await assertNoErrors(errors, page);
  await context.close();
});

/**
 * Opens the page with `?images=<base>` in a fresh context (the demo set loaded, the first sample
 * open) and returns what it requested from evil.example, the detail's images and the notes.
 */
async function openWithImageBase(base) {
  const context = await browser.newContext();
  const errors = await collectErrors(context);
  const evil = [];
  context.on('request', (r) => {
    if (/evil\.example/i.test(new URL(r.url()).host)) evil.push(r.url());
  });
  // Answered here (the network is closed), so a request that gets through is seen, not lost.
  await context.route(/^https?:\/\/evil\.example\//i, (route) => {
    evil.push(route.request().url());
    return route.fulfill({ status: 404, body: 'test' });
  });
  const page = await context.newPage();
  await page.goto(`${server.base}?images=${encodeURIComponent(base)}`);
  await page.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });
  await page.click('.shard-set[data-set="demo"] .load-set');
  await waitForSummary(page, 2);
  await openTab(page, 'samples');
  await page.locator('.sample-row').first().click();
  await page.waitForSelector('.detail-body', { timeout: 30_000 });
  await page.waitForTimeout(500);
  const images = await page.$$eval('.detail-body img.sample-image', (list) => list.map((i) => i.src));
  const text = async (selector) => ((await page.$(selector)) ? page.textContent(selector) : null);
  const result = { evil, images, confirm: await text('.image-base-confirm'), refused: await text('.image-base-refused'), page };
  return { ...result, errors, context };
}

test('an image base on the page\'s own origin is used at once (the control for the next test)', async () => {
  const opened = await openWithImageBase('__fixtures/images/');
  assert.equal(opened.confirm, null);
  assert.equal(opened.images.length, 1, 'the first demo sample has an image');
  assert.ok(opened.images[0].startsWith(`${server.base}__fixtures/images/`), opened.images[0]);
  await assertNoErrors(opened.errors, opened.page);
  await opened.context.close();
});

test('a shared link whose image base a browser reads as another host requests nothing and asks first', async () => {
  const pageHost = new URL(server.base).host;
  // Each passed the hand-written host check (relative, or naming the page's host) and reaches
  // evil.example in a browser; the last ones are plainly elsewhere in unusual spellings.
  const spellings = [
    '/\\evil.example/',
    `https://evil.example\\@${pageHost}/`,
    '/\t/evil.example/',
    '/\n/evil.example/',
    '\\\\evil.example/',
    `https://${pageHost}@evil.example/`,
    'HTTPS://EVIL.EXAMPLE/',
    'https://%65vil.example/',
  ];
  for (const base of spellings) {
    const opened = await openWithImageBase(base);
    const label = JSON.stringify(base);
    assert.deepEqual(opened.evil, [], `${label}: requests to evil.example`);
    assert.deepEqual(opened.images, [], `${label}: no image before the click`);
    assert.ok(opened.confirm?.includes('evil.example'), `${label}: the confirmation names evil.example: ${opened.confirm}`);
    assert.match(await opened.page.textContent('.allow-image-base'), /^Load images from evil\.example$/, label);
    await assertNoErrors(opened.errors, opened.page);
    await opened.context.close();
  }
  // A scheme that is not http(s) is refused outright, with no button.
  const opened = await openWithImageBase('javascript:alert(1)//');
  assert.deepEqual(opened.images, []);
  assert.equal(opened.confirm, null);
  assert.match(opened.refused ?? '', /javascript: URL; only http:\/\/ and https:\/\//);
  await assertNoErrors(opened.errors, opened.page);
  await opened.context.close();
});
