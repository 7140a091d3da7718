// Accessibility basics checked by axe-core (node_modules/axe-core, a dev-dependency): every view,
// before anything is loaded and with the bundled demo, at a desktop and a phone size, has no
// violation of impact "serious" or "critical"; every control shows a focus outline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ROOT, serve, launch, openTab, waitForSummary, collectErrors, assertNoErrors, axeViolations as violations } from './harness.mjs';

const TABS = ['data', 'results', 'leaderboard', 'disagreement', 'compare', 'vqa', 'samples', 'judge', 'model', 'rate', 'agreement'];
// The Medical VQA view reads its own files: two models on the committed fixture's vqa_rad.
const VQA = path.join(ROOT, 'crates/cli/tests/fixtures/vqa/vqa_rad');
const SIZES = [[1400, 900], [390, 844]];

test('axe finds no serious or critical violation in any view, empty or with the demo, at 1400×900 and 390×844', { timeout: 300_000 }, async (t) => {
  const site = await serve();
  const browser = await launch();
  t.after(async () => {
    await browser.close();
    site.server.close();
  });
  // The page's Content-Security-Policy (script-src 'self', no inline scripts) refuses the
  // script element addScriptTag injects; this context bypasses it to run axe. The policy itself
  // is tested in security.test.mjs.
  const context = await browser.newContext({ bypassCSP: true });
  const errors = await collectErrors(context);
  const page = await context.newPage();
  await page.goto(site.base);
  await page.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });
  await page.waitForSelector('#start-demo-load:not([disabled])', { timeout: 60_000 });

  const found = [];
  const check = async (when) => {
    for (const [width, height] of SIZES) {
      await page.setViewportSize({ width, height });
      for (const tab of TABS) {
        await openTab(page, tab);
        await page.waitForTimeout(150);
        for (const v of await violations(page)) found.push({ when, width, tab, ...v });
      }
    }
  };
  await check('nothing loaded');
  await openTab(page, 'data');
  await page.click('#start-demo-load');
  await waitForSummary(page, 4);
  // The views' own content, before axe reads them.
  await openTab(page, 'leaderboard');
  await page.waitForSelector('table.leaderboard tr.run-row', { timeout: 60_000 });
  await openTab(page, 'samples');
  await page.waitForSelector('.sample-row', { timeout: 60_000 });
  await openTab(page, 'vqa');
  await page.setInputFiles('#vqa-references', path.join(VQA, 'test.json'));
  await page.waitForSelector('ul.vqa-files li', { timeout: 60_000 });
  await page.setInputFiles('#vqa-model', path.join(VQA, 'test-answer-file.jsonl'));
  await page.waitForSelector('ol.vqa-models > li', { timeout: 60_000 });
  await page.waitForSelector('table.vqa-table', { timeout: 60_000 });
  await page.setInputFiles('#vqa-model', path.join(VQA, 'test-answer-file.jsonl'));
  await page.waitForSelector('table.vqa-comparison', { timeout: 60_000 });
  await check('demo loaded');
  // The dark theme (prefers-color-scheme) has its own colours, so its own contrast.
  await page.emulateMedia({ colorScheme: 'dark' });
  await check('demo loaded, dark theme');
  await page.emulateMedia({ colorScheme: 'light' });
  for (const v of found) console.log(`axe: ${v.when}, ${v.tab} at ${v.width}px: ${v.impact} ${v.id} (${v.help}): ${v.nodes.join(' | ')}`);
  assert.deepEqual(found.flatMap((v) => v.nodes.map((n) => `${v.when}, ${v.tab} at ${v.width}px: ${v.id} ${n}`)), []);

  // A visible focus outline on every kind of control the page has.
  await page.setViewportSize({ width: 1400, height: 900 });
  await openTab(page, 'judge');
  for (const selector of ['#judge-endpoint', '#judge-mode', '#judge-retry-unreadable', '#judge-stop', '[data-tab="judge"]']) {
    await page.focus(selector);
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');
    const outline = await page.$eval(selector, (e) => {
      const style = getComputedStyle(e);
      return { focused: document.activeElement === e, style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    if (!outline.focused) continue; // disabled controls are skipped by Tab
    assert.ok(outline.style !== 'none' && outline.width >= 2, `${selector}: focus outline ${JSON.stringify(outline)}`);
  }
  await assertNoErrors(errors, page);
});
