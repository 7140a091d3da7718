// The Medical VQA view against `medhall vqa` on the same files (issue 32): every cell of each
// model's table and of the paired comparison, the exact means and p-values behind them, a bad
// line reported by file and line, under the default closed rule and another one. The exact
// values behind the cells are compared to 1e-12 (wasm and native differ in the last bit of a few).
// Run after scripts/build-site.sh: MEDHALL_BIN=…/medhall node --test tests/e2e/vqa.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, serve, launch, openTab, collectErrors, assertNoErrors } from './harness.mjs';

const FIXTURE = path.join(ROOT, 'crates/cli/tests/fixtures/vqa');
const DATASETS = ['vqa_rad', 'Slake1.0'];

/** The reference answer of each question of a LLaVA-Med test file (some rows misspell the key). */
function referenceAnswers(file) {
  const answers = new Map();
  for (const row of JSON.parse(fs.readFileSync(file, 'utf8'))) {
    const turns = row.conversations ?? row.conversatons;
    answers.set(String(row.id), turns[1].value);
  }
  return answers;
}

/**
 * Flat copies of the committed fixture in `dir`, named so that the page (which sees file names
 * only) and the CLI (run in `dir` on the same names) pair them with the same datasets: the test
 * files `<dataset>.json`; model "before" the fixture's answers with a broken fifth line in
 * vqa_rad's; model "after" the same answers with every third replaced by the reference.
 */
function writeFiles(dir) {
  const files = { references: [], before: [], after: [] };
  for (const dataset of DATASETS) {
    const test = path.join(FIXTURE, dataset, 'test.json');
    fs.copyFileSync(test, path.join(dir, `${dataset}.json`));
    files.references.push(`${dataset}.json`);
    const answers = referenceAnswers(test);
    const lines = fs.readFileSync(path.join(FIXTURE, dataset, 'test-answer-file.jsonl'), 'utf8').trimEnd().split('\n');
    const after = lines.map((line, at) => {
      if (at % 3 !== 0) return line;
      const row = JSON.parse(line);
      return JSON.stringify({ ...row, text: answers.get(String(row.question_id)) ?? row.text });
    });
    const before = [...lines];
    if (dataset === 'vqa_rad') before.splice(4, 0, '{"question_id": 99999, "text": broken');
    fs.writeFileSync(path.join(dir, `${dataset}-before.jsonl`), before.join('\n') + '\n');
    fs.writeFileSync(path.join(dir, `${dataset}-after.jsonl`), after.join('\n') + '\n');
    files.before.push(`${dataset}-before.jsonl`);
    files.after.push(`${dataset}-after.jsonl`);
  }
  return files;
}

/** `medhall vqa`'s text tables: each model's rows and each comparison's, cells split as printed. */
function parseTables(stdout) {
  const tables = { models: [], comparisons: [], signature: null };
  let current = null;
  for (const line of stdout.split('\n')) {
    if (line === '') {
      current = null;
    } else if (/^model \d+: /.test(line) && !line.includes(' − ')) {
      current = [];
      tables.models.push(current);
    } else if (/^model \d+ − model 1, paired/.test(line)) {
      current = [];
      tables.comparisons.push(current);
    } else if (line.startsWith('signature: ')) {
      tables.signature = line.slice('signature: '.length);
      current = null;
    } else {
      if (!current) {
        // One model: its table has no heading.
        current = [];
        tables.models.push(current);
      }
      current.push(line.split(/ {2,}/));
    }
  }
  return tables;
}

function medhallVqa(dir, files, rule) {
  const bin = process.env.MEDHALL_BIN || path.join(ROOT, 'target/release/medhall');
  const json = path.join(dir, `summary-${rule}.json`);
  const args = ['vqa', '--variant', rule, '--json', json];
  for (const file of files.references) args.push('--references', file);
  args.push(files.before.join(','), files.after.join(','));
  const stdout = execFileSync(bin, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return { text: parseTables(stdout), json: JSON.parse(fs.readFileSync(json, 'utf8')) };
}

/** The page's tables: each cell's text, and the data attributes of each cell. */
async function pageTables(page) {
  const read = (selector) =>
    page.$$eval(selector, (tables) =>
      tables.map((table) =>
        [...table.querySelectorAll('tr')].map((row) =>
          [...row.children].map((cell) => ({ text: cell.textContent, data: { ...cell.dataset } })),
        ),
      ),
    );
  return { models: await read('table.vqa-table'), comparisons: await read('table.vqa-comparison') };
}

const texts = (table) => table.map((row) => row.map((cell) => cell.text));

async function waitForRule(page, rule) {
  await page.waitForFunction(
    (r) => {
      const heads = [...document.querySelectorAll('table.vqa-table thead')];
      return heads.length === 2 && heads.every((h) => h.textContent.includes(`(${r})`))
        && document.querySelector('table.vqa-comparison thead')?.textContent.includes(`(${r})`);
    },
    rule,
    { timeout: 60_000 },
  );
}

const close = (a, b) => Math.abs(a - b) <= 1e-12;

function assertSame(page, cli, rule) {
  assert.equal(page.models.length, 2, 'two model tables');
  assert.equal(page.comparisons.length, 1, 'one comparison');
  for (const [at, table] of page.models.entries()) {
    assert.deepEqual(texts(table), cli.text.models[at], `${rule}: model ${at + 1}'s table`);
    // The exact values behind the cells: the CLI's --json means, as fractions.
    const datasets = cli.json.models[at].datasets;
    assert.equal(table.length - 1, datasets.length);
    for (const [row, summary] of datasets.entries()) {
      const cells = table[row + 1];
      for (const [column, key] of [[2, 'open_recall'], [4, 'closed_accuracy'], [5, 'open_accuracy']]) {
        // Means and interval bounds to 1e-12: the page's wasm and the native CLI were seen to differ
        // in the last bit of some (0.4381270903010034 against 0.43812709030100333); the printed
        // cells above are equal, and the p-values below exactly.
        assert.ok(close(Number(cells[column].data.mean), summary[key].mean), `${rule}: model ${at + 1} ${summary.dataset} ${key}`);
        const [low, high] = cells[column].data.ci.split(' ').map(Number);
        assert.ok(close(low, summary[key].ci95[0]) && close(high, summary[key].ci95[1]), `${rule}: ${summary.dataset} ${key} interval`);
      }
    }
  }
  const comparison = page.comparisons[0];
  assert.deepEqual(texts(comparison), cli.text.comparisons[0], `${rule}: the comparison's cells`);
  const compared = cli.json.comparisons[0].datasets;
  let pValues = 0;
  for (const [row, difference] of compared.entries()) {
    const cells = comparison[row + 1];
    for (const [column, key] of [[1, 'open_recall'], [2, 'closed_accuracy'], [3, 'open_accuracy']]) {
      const d = difference[key];
      assert.equal(Number(cells[column].data.p), d.p_value, `${rule}: ${difference.dataset} ${key} p`);
      assert.equal(Number(cells[column].data.pAdjusted), d.p_adjusted, `${rule}: ${difference.dataset} ${key} adjusted p`);
      // As the means: the last bit may differ (0.1321695760598504 against 0.13216957605985039).
      assert.ok(close(Number(cells[column].data.difference), d.mean_difference), `${rule}: ${difference.dataset} ${key} difference`);
      pValues += 1;
    }
  }
  return pValues;
}

test('the Medical VQA view shows what medhall vqa prints for the same files', { timeout: 300_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medhall-vqa-e2e-'));
  const files = writeFiles(dir);
  const site = await serve();
  const browser = await launch();
  t.after(async () => {
    await browser.close();
    site.server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const context = await browser.newContext();
  const errors = await collectErrors(context);
  const page = await context.newPage();
  await page.goto(`${site.base}?tab=vqa`);
  await page.waitForSelector('#vqa-references', { state: 'attached', timeout: 60_000 });
  await openTab(page, 'vqa');
  const local = (names) => names.map((name) => path.join(dir, name));
  await page.setInputFiles('#vqa-references', local(files.references));
  await page.waitForFunction(() => document.querySelectorAll('ul.vqa-files li').length === 2);
  await page.setInputFiles('#vqa-model', local(files.before));
  await page.waitForFunction(() => document.querySelectorAll('ol.vqa-models > li').length === 1);
  await page.setInputFiles('#vqa-model', local(files.after));

  let pValues = 0;
  for (const rule of ['run_eval_batch', 'whole-word']) {
    if (rule !== 'run_eval_batch') await page.selectOption('#vqa-rule', rule);
    await waitForRule(page, rule);
    const cli = medhallVqa(dir, files, rule);
    assert.equal(cli.text.models.length, 2, 'the CLI printed two tables');
    pValues += assertSame(await pageTables(page), cli, rule);
    const signature = await page.$eval('.vqa-signature', (e) => e.textContent);
    assert.equal(signature, `signature: ${cli.text.signature}`);
  }
  assert.equal(pValues, 2 * DATASETS.length * 3);

  // The broken line: reported by file and line (as the CLI's issues), the rest scored.
  const issues = await page.$$eval('.vqa-issues li', (items) => items.map((i) => i.textContent));
  const broken = issues.find((i) => i.startsWith('vqa_rad-before.jsonl:5:'));
  assert.ok(broken, `no issue for vqa_rad-before.jsonl line 5 in:\n${issues.slice(0, 10).join('\n')}`);
  const cli = medhallVqa(dir, files, 'run_eval_batch');
  assert.ok(cli.json.issues.some((i) => i.source === 'vqa_rad-before.jsonl' && i.line === 5), 'the CLI reports it too');
  assert.equal(issues.length, Math.min(cli.json.issues.length, 201), 'the same issues as the CLI');

  // The chart: one bar per dataset × (open recall, closed) × model.
  const bars = await page.$$eval('.vqa-chart svg rect.hit', (r) => r.length);
  assert.equal(bars, DATASETS.length * 2 * 2);
  console.log(`e2e vqa: ${pValues} p-values and every cell equal medhall vqa's, under two closed rules`);
  await assertNoErrors(errors, page);
});
