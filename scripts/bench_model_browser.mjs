// Browser benchmark of the model check (issue 6): the real-size random-weight SmolVLM-256M built by
// scripts/bench_model.sh (target/bench-model/, with its synthetic tokenizer) answers one question in
// the model worker in headless Chromium, on WebGPU (SwiftShader: a CPU implementation of WebGPU,
// so these are not GPU figures) and on the CPU fallback (burn flex in wasm, one thread), q8_0 and
// f32; prints time to first token and tokens/s side by side for two answers in the same worker (the
// first in a fresh worker, the second a later question of the same run: they scatter about as much
// as each other on a 2-core machine), and the worker wasm's size.
// Usage: node scripts/bench_model_browser.mjs [TOKENS] [BACKENDS] [QUANTIZATIONS]
//   e.g. `8 cpu none,q8_0` (defaults: 8 webgpu,cpu q8_0,none); after trunk build --release.
// The build measured is MEDHALL_DIST (default dist/). With MEDHALL_DIST_BEFORE=DIR (another built
// site, e.g. one built from an earlier commit) both run in the same browser, one after the other,
// and the table adds each figure's ratio this build / before. RUNS rounds (default 3 with a build
// to compare, else 1), the two builds alternating (before first in odd rounds, this first in even
// ones); each figure is the median (min–max) over the rounds, each ratio the median (min–max) of
// the rounds' ratios. The machine's load average is printed beside the figures: on a shared
// machine they move with it. Writes docs/benchmarks/model-browser.md and keeps the raw output
// under docs/benchmarks/runs/ (scripts/bench_lib.mjs).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { serve, launch, DIST, ROOT, BENCH_PREFIX, FIXTURE_PREFIX, MODEL_FIXTURES } from '../tests/e2e/harness.mjs';
import { beginRun, distBuilt, ratioCell, spread, table } from './bench_lib.mjs';

const TOKENS = Number(process.argv[2] || 8);
// MEDHALL_BENCH_MODEL=tiny: the tests' tiny random-weight Idefics3 instead (2 text layers; on
// SwiftShader the real-size model's first answer takes longer than 15 minutes on 2 cores).
const TINY = process.env.MEDHALL_BENCH_MODEL === 'tiny';
const modelDir = TINY ? path.join(MODEL_FIXTURES, 'tiny-idefics3') : path.join(ROOT, 'target/bench-model/smolvlm-256m-random');
if (!fs.existsSync(path.join(modelDir, 'tokenizer.json'))) {
  console.error('bench_model_browser: run scripts/bench_model.sh first (it builds target/bench-model/)');
  process.exit(1);
}
const builds = [
  ...(process.env.MEDHALL_DIST_BEFORE ? [{ name: 'before', dist: path.resolve(process.env.MEDHALL_DIST_BEFORE) }] : []),
  { name: process.env.MEDHALL_DIST_BEFORE ? 'this' : '', dist: DIST },
];
for (const build of builds) {
  build.wasm = fs.readdirSync(build.dist).find((f) => f.startsWith('medhall-model-worker') && f.endsWith('.wasm'));
  build.wasmBytes = fs.readFileSync(path.join(build.dist, build.wasm));
}
const RUNS = Number(process.env.RUNS || (builds.length === 2 ? 3 : 1));
const run = beginRun('model-browser', ['RUNS', 'MEDHALL_DIST', 'MEDHALL_DIST_BEFORE', 'MEDHALL_BENCH_MODEL']);
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const loadBefore = load();

const browser = await launch({ webgpu: true });
const png = [...fs.readFileSync(path.join(MODEL_FIXTURES, 'fixture-image.png'))];
const rows = [];
const BACKENDS = (process.argv[3] || 'webgpu,cpu').split(',');
const QUANTIZATIONS = (process.argv[4] || 'q8_0,none').split(',');
for (const backend of BACKENDS) {
  for (const quantization of QUANTIZATIONS) {
    for (let round = 1; round <= RUNS; round += 1) {
    for (const build of round % 2 ? builds : [...builds].reverse()) {
      const { server, base } = await serve({ dist: build.dist });
      console.error(`${build.name} ${backend} ${quantization}, round ${round}: running… (load average ${load()})`);
      const page = await browser.newPage();
      // WebGPU dispatches, counted in the worker by wrapping GPUComputePassEncoder's dispatch
      // methods (so any build can be counted, including one from before the worker counted its
      // kernels itself); each message the worker posts carries the count so far.
      page.on('worker', (w) => w.evaluate(() => {
        self.__dispatches = 0;
        if (typeof GPUComputePassEncoder !== 'undefined') {
          for (const name of ['dispatchWorkgroups', 'dispatchWorkgroupsIndirect']) {
            const original = GPUComputePassEncoder.prototype[name];
            GPUComputePassEncoder.prototype[name] = function (...args) {
              self.__dispatches += 1;
              return original.apply(this, args);
            };
          }
        }
        const post = self.postMessage.bind(self);
        self.postMessage = (data, ...rest) => post(
          typeof data === 'string' && data.endsWith('}') ? `${data.slice(0, -1)},"gpu_dispatches":${self.__dispatches}}` : data,
          ...rest,
        );
      }).catch(() => {}));
      await page.goto(base);
      const result = await page.evaluate(
        async ({ modelUrl, preferGpu, quantization, png, tokens }) => {
          const worker = new Worker('./medhall-model-worker_loader.js');
          const events = [];
          const until = (match) => new Promise((resolve) => {
            const check = () => {
              const e = events.find(match);
              if (e) resolve(e); else setTimeout(check, 50);
            };
            check();
          });
          worker.onmessage = (e) => events.push(JSON.parse(e.data));
          const send = (msg, bytes) => worker.postMessage({ msg: JSON.stringify(msg), bytes });
          await until((e) => e.type === 'started');
          send({ type: 'init', prefer_gpu: preferGpu });
          const ready = await until((e) => e.type === 'ready');
          send({ type: 'load', job: 1, model: { from: 'url', base_url: modelUrl }, adapter: null, quantization, merge: false });
          const loaded = await until((e) => (e.type === 'loaded' || e.type === 'error') && e.job === 1);
          if (loaded.type === 'error') return { ready, error: loaded.message };
          // Two answers in the same worker: the first in a fresh worker (V8 may still be
          // compiling the hot wasm functions), the second what a later question of a run costs.
          const answers = [];
          for (const job of [2, 3]) {
            send({ type: 'generate', job, question: 'What is shown in this image?', image_name: 'fixture-image.png', max_new_tokens: tokens, adapter_enabled: false }, new Uint8Array(png));
            const answer = await until((e) => (e.type === 'answer' || e.type === 'error') && e.job === job);
            // Dispatches per decoding step: from the first token's message (posted before the
            // first decoding step) to the answer, over the steps the timings list.
            const first = events.find((e) => e.type === 'token' && e.job === job);
            const steps = answer.timings?.decode_ms?.length;
            if (first?.gpu_dispatches !== undefined && answer.gpu_dispatches !== undefined && steps) {
              answer.dispatches_per_step = (answer.gpu_dispatches - first.gpu_dispatches) / steps;
            }
            answers.push(answer);
            if (answer.type === 'error') break;
          }
          worker.terminate();
          return { ready, loaded, answer: answers[0], second: answers[1] };
        },
        { modelUrl: TINY ? `${base}${FIXTURE_PREFIX}tiny-idefics3/` : `${base}${BENCH_PREFIX}smolvlm-256m-random/`, preferGpu: backend === 'webgpu', quantization, png, tokens: TOKENS },
      );
      await page.close();
      server.close();
      rows.push({ build: build.name, backend, quantization, round, ...result });
      const a = result.answer;
      const b = result.second;
      console.error(`${build.name} ${backend} ${quantization}: ${result.error || a.message || `TTFT ${a.time_to_first_token_ms.toFixed(0)} ms, ${a.tokens_per_s?.toFixed(2)} tokens/s, dispatches/step ${a.dispatches_per_step ?? '-'} (worker's count: ${a.timings?.decode_kernels?.join(',') || '-'}); second answer: ${b?.message || `TTFT ${b?.time_to_first_token_ms.toFixed(0)} ms, ${b?.tokens_per_s?.toFixed(2)} tokens/s`}`}`);
      // Each decoding step's milliseconds, first and second answer: where a slow answer's time went.
      if (a?.timings?.decode_ms) console.error(`  decoding steps, ms: ${a.timings.decode_ms.map((x) => x.toFixed(0)).join(' ')}${b?.timings?.decode_ms ? ` | second: ${b.timings.decode_ms.map((x) => x.toFixed(0)).join(' ')}` : ''}`);
    }
    }
  }
}
await browser.close();

console.log(TINY
  ? `\nThe tests' tiny random-weight Idefics3 (2 text layers) in headless Chromium (${TOKENS} new tokens)`
  : `\nReal-size random-weight SmolVLM-256M in headless Chromium (${TOKENS} new tokens; prompt = chat template + 64 image tokens)`);
console.log(`load average (1, 5, 15 min): ${loadBefore} at the start, ${load()} at the end (${os.cpus().length} CPUs)`);
for (const build of builds) {
  console.log(`${build.name ? `${build.name}: ` : ''}model worker wasm: ${(build.wasmBytes.length / 1e6).toFixed(1)} MB raw, ${(zlib.gzipSync(build.wasmBytes).length / 1e6).toFixed(2)} MB gzip (${path.join(path.relative(ROOT, build.dist), build.wasm)})`);
}
const ok = (r) => r && !r.error && r.answer.type !== 'error';
const ok2 = (r) => ok(r) && r.second && r.second.type !== 'error';
console.log('first answer: a fresh worker; second: the next question in the same worker');
console.log('dispatches/step: WebGPU compute dispatches per decoding step, counted in the browser (first answer); in');
console.log('  parentheses the kernels the worker itself counted (cubecl launches; builds that report them)');
console.log(`each figure: median (min–max) over ${RUNS} round(s); a ratio: the median (min–max) of the rounds' this / before ratios`);
// The figures of one (build, backend, weights) over the rounds, in round order.
const figures = {
  load: (r) => r.loaded.load_ms / 1000,
  ttft: (r) => r.answer.time_to_first_token_ms,
  tps: (r) => r.answer.tokens_per_s ?? NaN,
  ttft2: (r) => (ok2(r) ? r.second.time_to_first_token_ms : NaN),
  tps2: (r) => (ok2(r) ? r.second.tokens_per_s ?? NaN : NaN),
};
const digits = { load: 1, ttft: 0, tps: 2, ttft2: 0, tps2: 2 };
const headers = ['build', 'backend', 'weights', 'threads', 'load s', 'TTFT ms', 'tokens/s', '2nd TTFT ms', '2nd tokens/s', 'dispatches/step'];
const mdRows = [];
for (const backend of BACKENDS) {
  for (const quantization of QUANTIZATIONS) {
    const per = (name) => rows.filter((r) => r.build === name && r.backend === backend && r.quantization === quantization);
    for (const build of builds) {
      const rs = per(build.name);
      const first = rs[0];
      const name = backend === 'webgpu' ? `WebGPU (${first.ready.adapter_info || '?'})` : `CPU fallback (${first.ready.fallback_reason || 'flex'})`;
      const failed = rs.find((r) => !ok(r));
      if (failed) {
        const cells = [build.name || 'page', name, quantization, '', `error: ${failed.error || failed.answer.message}`];
        console.log(cells.join('  '));
        mdRows.push([...cells, '', '', '', '', '']);
        continue;
      }
      const cell = (key) => {
        const xs = rs.map(figures[key]).filter(Number.isFinite);
        return xs.length ? spread(xs, digits[key]) : '-';
      };
      const own = first.answer.timings?.decode_kernels?.length
        ? ` (${(first.answer.timings.decode_kernels.reduce((a, b) => a + b, 0) / first.answer.timings.decode_kernels.length).toFixed(0)})`
        : '';
      const dispatches = backend === 'webgpu' && first.answer.dispatches_per_step !== undefined ? `${first.answer.dispatches_per_step.toFixed(0)}${own}` : '-';
      // The CPU fallback is wasm without threads: one thread. SwiftShader runs WebGPU on its own CPU threads.
      const cells = [build.name || 'page', name, quantization, backend === 'webgpu' ? 'SwiftShader\'s own' : '1 (wasm)', cell('load'), cell('ttft'), cell('tps'), cell('ttft2'), cell('tps2'), dispatches];
      console.log(cells.join('  '));
      mdRows.push(cells);
    }
    const before = per('before');
    const after = per('this');
    if (before.length && after.length && before.every(ok) && after.every(ok)) {
      // Per round: this / before. For times a ratio above 1 means this build is slower.
      const ratio = (key) => {
        const rs = after.map((r, i) => figures[key](r) / figures[key](before[i])).filter(Number.isFinite);
        return rs.length ? ratioCell(rs) : '-';
      };
      const cells = ['ratio', 'this / before', quantization, '', ratio('load'), ratio('ttft'), ratio('tps'), ratio('ttft2'), ratio('tps2'), ''];
      console.log(cells.join('  '));
      mdRows.push(cells);
    }
  }
}
const loadEnd = load();
run.finish([
  TINY
    ? `The tests' tiny random-weight Idefics3 (2 text layers) in headless Chromium, ${TOKENS} new tokens.`
    : `Real-size random-weight SmolVLM-256M in headless Chromium, ${TOKENS} new tokens (prompt: chat template + 64 image tokens).`,
  `WebGPU here is SwiftShader (a CPU implementation): not GPU figures. ${RUNS} round(s)${builds.length === 2 ? ', the builds alternating' : ''}; each figure the median (min–max) over the rounds; a ratio the median (min–max) of the rounds' this / before ratios (for times, above 1 is slower).`,
  'First answer: a fresh worker; second: the next question in the same worker. dispatches/step: WebGPU compute dispatches per decoding step, counted in the browser (first round, first answer; in parentheses the worker\'s own count).',
  `Load average during the loop: ${loadBefore} at its start, ${loadEnd} at its end.`,
  '',
  ...builds.map((build) => `- ${build.name || 'page'}: \`${path.join(path.relative(ROOT, build.dist), build.wasm)}\` (${distBuilt(build.dist)}; a build records no commit), ${(build.wasmBytes.length / 1e6).toFixed(1)} MB raw, ${(zlib.gzipSync(build.wasmBytes).length / 1e6).toFixed(2)} MB gzip`),
  '',
  table(headers, mdRows),
].join('\n'));
