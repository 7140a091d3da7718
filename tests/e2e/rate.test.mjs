// End-to-end test of the Rate and Agreement views (issue 30): a rater draws a seeded sample of
// the demo's judged model, rates 10 items by keyboard without seeing the judge or the model,
// reloads mid-way and resumes, finishes (the judge's scores appear), exports; a second rater's
// file (and one malformed line) is imported; the agreement view shows the κ, α, ρ and bias that
// `medhall agreement --json` computes for the same files, within 1e-12, and the same signature.
// axe-core checks the rating sheet and the finished sheet. Run by scripts/test.sh after the
// Trunk build: node --test tests/e2e/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ROOT, serve, launch, openTab, waitForSummary, collectErrors, assertNoErrors, axeViolations } from './harness.mjs';

const RATER = 'Dr. Ada';
const SECOND = 'Dr. Bo';
const RESAMPLES = 200;
const SEED = 3;

/** The scores the first rater types for item `i` (the four criteria). */
const scoresOf = (i) => [1 + (i % 10), 1 + ((i * 3) % 10), 1 + ((i * 7 + 2) % 10), 10 - (i % 10)];

async function rateItem(page, i) {
  for (const score of scoresOf(i)) await page.keyboard.press(score === 10 ? '0' : String(score));
  await page.waitForSelector(`#rate-progress[data-complete="${i + 1}"]`, { timeout: 10_000 });
  await page.keyboard.press('n');
}

test('a rater rates 10 items by keyboard, blind, across a reload, and exports; with a second rater the agreement view shows the CLI’s figures', { timeout: 300_000 }, async (t) => {
  const site = await serve();
  const browser = await launch();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medhall-rate-'));
  t.after(async () => {
    await browser.close();
    site.server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  // axe is injected as a script, which the page's CSP refuses (security.test.mjs tests the CSP).
  const context = await browser.newContext({ acceptDownloads: true, bypassCSP: true });
  const errors = await collectErrors(context);
  const page = await context.newPage();
  await page.setViewportSize({ width: 1400, height: 900 });
  await page.goto(site.base);
  await page.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });
  await page.click('[data-set="demo"] button.load-set');
  await waitForSummary(page, 4);

  await openTab(page, 'rate');
  const models = await page.$$eval('#rate-model option', (o) => o.map((x) => x.value));
  const judged = models.find((m) => m.includes('model-b'));
  assert.ok(judged, `the demo's judged model is offered: ${models}`);
  assert.equal(await page.isDisabled('#rate-start'), true, 'no start without a name');
  await page.fill('#rate-rater', RATER);
  await page.selectOption('#rate-model', judged);
  await page.fill('#rate-per-split', '5');
  await page.dispatchEvent('#rate-per-split', 'change');
  await page.fill('#rate-seed', '11');
  await page.dispatchEvent('#rate-seed', 'change');
  await page.click('#rate-start');
  await page.waitForSelector('#rate-progress', { timeout: 30_000 });
  assert.match(await page.textContent('#rate-progress'), /Item 1 of 10 · 0 complete/);

  // Blind: neither the model nor the judge's verdict text is on the sheet.
  const sheetText = await page.textContent('#view-rate');
  assert.ok(!sheetText.includes('model-b') && !sheetText.includes('judge-eval'), 'no model or run name while rating');
  assert.equal(await page.$$eval('#rate-sheet .criterion', (c) => c.length), 4);
  assert.match(await page.textContent('#rate-sheet .criterion'), /Clinical Accuracy/);
  assert.deepEqual(await axeViolations(page), [], 'axe on the rating sheet');

  for (let i = 0; i < 5; i++) await rateItem(page, i);
  await page.waitForSelector('#rate-progress[data-position="5"]');
  await page.fill('#rate-note', 'a <b>note</b> kept as text');
  await page.dispatchEvent('#rate-note', 'change');
  // Give IndexedDB its commit (each change is written as it happens).
  await page.waitForTimeout(400);
  await page.reload();
  await page.waitForSelector('#results-input', { state: 'attached', timeout: 60_000 });
  await waitForSummary(page, 4);
  await openTab(page, 'rate');
  await page.waitForSelector('.stored-sheet .resume-sheet', { timeout: 30_000 });
  assert.match(await page.textContent('.stored-sheet'), /Dr\. Ada · plan [0-9a-f]{8} · 5 of 10 rated/);
  await page.click('.stored-sheet .resume-sheet');
  await page.waitForSelector('#rate-progress[data-position="5"][data-complete="5"]', { timeout: 10_000 });
  assert.equal(await page.inputValue('#rate-note'), 'a <b>note</b> kept as text');
  assert.equal(await page.isDisabled('#rate-finish'), true, 'not finished with 5 items unrated');
  for (let i = 5; i < 10; i++) await rateItem(page, i);
  // Back to an earlier item and its scores are there.
  await page.keyboard.press('p');
  assert.deepEqual(
    await page.$$eval('#rate-sheet .criterion', (c) => c.map((x) => x.querySelector('button.score[aria-pressed="true"]')?.dataset.score)),
    scoresOf(8).map(String),
  );
  await page.click('#rate-finish');
  await page.waitForSelector('#rate-finished');
  await page.waitForSelector('tr.revealed-item', { timeout: 10_000 });
  const revealed = await page.$$eval('tr.revealed-item', (rows) => rows.map((r) => r.textContent));
  assert.equal(revealed.length, 10);
  assert.ok(revealed.every((text) => text.includes(judged)), `every item shows the judge and the run it came from: ${revealed[0]}`);
  assert.ok(await page.$('tr.revealed-item b') === null, 'the note is text, not HTML');
  assert.deepEqual(await axeViolations(page), [], 'axe on the finished sheet');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#rate-export')]);
  assert.match(download.suggestedFilename(), /^ratings-Dr__Ada-[0-9a-f]{8}\.jsonl$/);
  const first = path.join(dir, 'h1.jsonl');
  await download.saveAs(first);
  const lines = fs.readFileSync(first, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 10);
  const plan = lines[0].plan;
  assert.ok(lines.every((l) => l.rater === RATER && l.plan === plan && typeof l.time === 'string'));
  const typed = new Set([...Array(10).keys()].map((i) => scoresOf(i).join(',')));
  for (const l of lines) {
    const got = [l.clinical_accuracy, l.clinical_relevance, l.detail_level, l.risk_level].join(',');
    assert.ok(typed.has(got), `exported scores are the typed ones: ${got}`);
  }

  // A second rater: the same items, scores moved by -1, 0 or +1; one line that is not JSON.
  const second = path.join(dir, 'h2.jsonl');
  const moved = lines.map((l, i) => {
    const out = { ...l, rater: SECOND };
    delete out.note;
    for (const c of ['clinical_accuracy', 'clinical_relevance', 'detail_level', 'risk_level']) {
      out[c] = Math.min(10, Math.max(1, l[c] + ((i + c.length) % 3) - 1));
    }
    return JSON.stringify(out);
  });
  moved.splice(4, 0, '{"rater": "Dr. Bo", broken');
  fs.writeFileSync(second, `${moved.join('\n')}\n`);

  await page.click('#rate-agreement');
  await page.waitForSelector('#view-agreement:not([hidden])');
  await page.setInputFiles('#agreement-ratings', [first, second]);
  await page.waitForFunction(() => document.querySelectorAll('.agreement-files-chosen li').length === 2);
  await page.waitForSelector('input.agreement-sheet', { state: 'attached' });
  await page.check(`input.agreement-judge[data-model="${judged}"]`);
  await page.fill('#agreement-resamples', String(RESAMPLES));
  await page.dispatchEvent('#agreement-resamples', 'change');
  await page.fill('#agreement-seed', String(SEED));
  await page.dispatchEvent('#agreement-seed', 'change');
  await page.click('#agreement-compute');
  await page.waitForSelector('tr.agreement-pair', { timeout: 60_000 });
  assert.match(await page.textContent('#agreement-issues'), /h2\.jsonl:5: /, 'the broken line is reported by file and line');

  // The CLI on the same files.
  const bin = process.env.MEDHALL_BIN || path.join(ROOT, 'target/release/medhall');
  const demo = path.join(ROOT, 'public/demo');
  const judgedFiles = ['positive', 'negative'].map((s) => path.join(demo, `demo-model-b.${s}.judge-eval.jsonl`)).join(',');
  const out = path.join(dir, 'agreement.json');
  execFileSync(bin, ['agreement', '--ratings', first, second, '--judged', judgedFiles, '--resamples', String(RESAMPLES), '--seed', String(SEED), '--top', '5', '--json', out], { stdio: ['ignore', 'ignore', 'inherit'] });
  const cli = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.equal(await page.textContent('#agreement-signature'), cli.signature);

  // Each figure cell: its full value (data-value), interval, and the text shown.
  const pagePairs = await page.$$eval('tr.agreement-pair', (rows) => rows.map((r) => {
    const cell = (c) => ({ value: c?.dataset.value ?? null, low: c?.dataset.low ?? null, high: c?.dataset.high ?? null, text: c?.firstChild?.textContent ?? null });
    return {
      key: [r.dataset.criterion, r.dataset.split, r.dataset.type ?? '', r.dataset.first, r.dataset.second].join('|'),
      kappa: cell(r.querySelector('td.kappa')),
      rho: cell(r.querySelector('td.rho')),
      bias: cell(r.querySelector('td.bias')),
    };
  }));
  const pageAlphas = await page.$$eval('tr.agreement-alpha', (rows) => rows.map((r) => {
    const cell = (c) => ({ value: c?.dataset.value ?? null, low: c?.dataset.low ?? null, high: c?.dataset.high ?? null, text: c?.firstChild?.textContent ?? null });
    return {
      key: [r.dataset.criterion, r.dataset.split, r.dataset.type ?? '', r.dataset.set].join('|'),
      interval: cell(r.querySelector('td.alpha-interval')),
      ordinal: cell(r.querySelector('td.alpha-ordinal')),
    };
  }));
  const close = (got, want, what) => {
    if (want.value === null) {
      assert.equal(got.value, null, `${what}: undefined in the CLI`);
      return;
    }
    assert.ok(Math.abs(Number(got.value) - want.value) <= 1e-12, `${what}: page ${got.value}, CLI ${want.value}`);
    assert.equal(got.text, want.value.toFixed(3), `${what}: shown to three decimals`);
    if (want.ci95) {
      assert.ok(Math.abs(Number(got.low) - want.ci95[0]) <= 1e-12 && Math.abs(Number(got.high) - want.ci95[1]) <= 1e-12, `${what}: interval`);
    } else {
      assert.equal(got.low, null, `${what}: no interval`);
    }
  };
  let figures = 0;
  let humanJudge = 0;
  for (const group of cli.groups) {
    for (const pair of group.pairs) {
      const key = [group.criterion, group.split, group.hallucination_type ?? '', pair.first, pair.second].join('|');
      const got = pagePairs.find((p) => p.key === key);
      assert.ok(got, `the page lists ${key}`);
      close(got.kappa, pair.kappa, `${key} κ`);
      close(got.rho, pair.spearman, `${key} ρ`);
      close(got.bias, pair.bias, `${key} bias`);
      figures += 3;
      if (pair.second !== SECOND && pair.first !== pair.second) humanJudge += 1;
    }
    for (const alpha of group.alphas) {
      const key = [group.criterion, group.split, group.hallucination_type ?? '', alpha.set].join('|');
      const got = pageAlphas.find((a) => a.key === key);
      assert.ok(got, `the page lists α ${key}`);
      close(got.interval, alpha.interval, `${key} α interval`);
      close(got.ordinal, alpha.ordinal, `${key} α ordinal`);
      figures += 2;
    }
  }
  assert.equal(pagePairs.length, cli.groups.reduce((n, g) => n + g.pairs.length, 0), 'no pair the CLI lacks');
  assert.ok(humanJudge > 0, 'human × judge pairs are compared');
  console.log(`rate e2e: ${figures} agreement figures equal the CLI's within 1e-12`);
  assert.equal(await page.$$eval('table.heatmap', (t) => t.length), cli.grids.length);

  // A listed disagreement opens in Samples.
  const sample = await page.getAttribute('tr.agreement-disagreement', 'data-sample');
  await page.click('tr.agreement-disagreement');
  await page.waitForSelector('#view-samples:not([hidden])');
  const [split, id] = sample.split(':');
  assert.equal(new URLSearchParams(await page.evaluate(() => location.search)).get('sample'), `${split}:${id}`);
  await assertNoErrors(errors, page);
});
