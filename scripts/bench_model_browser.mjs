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
// and the table adds each figure's ratio this build / before. The machine's load average is printed
// beside the figures: on a shared machine they move with it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { serve, launch, DIST, ROOT, BENCH_PREFIX, FIXTURE_PREFIX, MODEL_FIXTURES } from '../tests/e2e/harness.mjs';

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
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const loadBefore = load();

const browser = await launch({ webgpu: true });
const png = [...fs.readFileSync(path.join(MODEL_FIXTURES, 'fixture-image.png'))];
const rows = [];
const BACKENDS = (process.argv[3] || 'webgpu,cpu').split(',');
const QUANTIZATIONS = (process.argv[4] || 'q8_0,none').split(',');
for (const backend of BACKENDS) {
  for (const quantization of QUANTIZATIONS) {
    for (const build of builds) {
      const { server, base } = await serve({ dist: build.dist });
      console.error(`${build.name} ${backend} ${quantization}: running… (load average ${load()})`);
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
      rows.push({ build: build.name, backend, quantization, ...result });
      const a = result.answer;
      const b = result.second;
      console.error(`${build.name} ${backend} ${quantization}: ${result.error || a.message || `TTFT ${a.time_to_first_token_ms.toFixed(0)} ms, ${a.tokens_per_s?.toFixed(2)} tokens/s, dispatches/step ${a.dispatches_per_step ?? '-'} (worker's count: ${a.timings?.decode_kernels?.join(',') || '-'}); second answer: ${b?.message || `TTFT ${b?.time_to_first_token_ms.toFixed(0)} ms, ${b?.tokens_per_s?.toFixed(2)} tokens/s`}`}`);
      // Each decoding step's milliseconds, first and second answer: where a slow answer's time went.
      if (a?.timings?.decode_ms) console.error(`  decoding steps, ms: ${a.timings.decode_ms.map((x) => x.toFixed(0)).join(' ')}${b?.timings?.decode_ms ? ` | second: ${b.timings.decode_ms.map((x) => x.toFixed(0)).join(' ')}` : ''}`);
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
console.log(`${'build'.padEnd(7)} ${'backend'.padEnd(44)} ${'weights'.padEnd(8)} ${'load s'.padStart(8)} ${'TTFT ms'.padStart(9)} ${'tokens/s'.padStart(9)} ${'2nd TTFT'.padStart(9)} ${'2nd tok/s'.padStart(9)} ${'dispatches/step'.padStart(16)}`);
for (const r of rows) {
  const name = r.backend === 'webgpu' ? `WebGPU (${r.ready.adapter_info || '?'})` : `CPU fallback (${r.ready.fallback_reason || 'flex'})`;
  const prefix = `${r.build.padEnd(7)} ${name.slice(0, 44).padEnd(44)} ${r.quantization.padEnd(8)}`;
  if (!ok(r)) {
    console.log(`${prefix} error: ${r.error || r.answer.message}`);
    continue;
  }
  const second = ok2(r) ? `${r.second.time_to_first_token_ms.toFixed(0).padStart(9)} ${(r.second.tokens_per_s ?? NaN).toFixed(2).padStart(9)}` : `${'-'.padStart(9)} ${'-'.padStart(9)}`;
  const own = r.answer.timings?.decode_kernels?.length
    ? ` (${(r.answer.timings.decode_kernels.reduce((a, b) => a + b, 0) / r.answer.timings.decode_kernels.length).toFixed(0)})`
    : '';
  const dispatches = r.backend === 'webgpu' && r.answer.dispatches_per_step !== undefined
    ? `${r.answer.dispatches_per_step.toFixed(0)}${own}` : '-';
  console.log(`${prefix} ${(r.loaded.load_ms / 1000).toFixed(1).padStart(8)} ${r.answer.time_to_first_token_ms.toFixed(0).padStart(9)} ${(r.answer.tokens_per_s ?? NaN).toFixed(2).padStart(9)} ${second} ${dispatches.padStart(16)}`);
  const before = rows.find((b) => b.build === 'before' && b.backend === r.backend && b.quantization === r.quantization);
  if (r.build === 'this' && ok(before)) {
    const ratio = (x, y) => `×${(x / y).toFixed(2)}`.padStart(9);
    const second = ok2(r) && ok2(before)
      ? `${ratio(r.second.time_to_first_token_ms, before.second.time_to_first_token_ms)} ${ratio(r.second.tokens_per_s, before.second.tokens_per_s)}`
      : '';
    console.log(`${'ratio'.padEnd(7)} ${'this / before'.padEnd(44)} ${r.quantization.padEnd(8)} ${ratio(r.loaded.load_ms, before.loaded.load_ms)} ${ratio(r.answer.time_to_first_token_ms, before.answer.time_to_first_token_ms)} ${ratio(r.answer.tokens_per_s, before.answer.tokens_per_s)} ${second}`);
  }
}
