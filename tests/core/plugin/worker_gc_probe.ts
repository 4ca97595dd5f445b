/**
 * Run with `--v8-flags=--expose-gc --allow-read`: starts the plugin Worker bootstrap
 * (core/plugin/worker_entry.ts) on the plugin folder given as the argument, calls its `detect`,
 * and prints `{"host": typeof gc here, "plugin": what detect returned}`.
 * @module
 */
const dir = Deno.args[0];
const worker = new Worker(new URL("../../../core/plugin/worker_entry.ts", import.meta.url), {
  type: "module",
});
const answers: Array<Record<string, unknown>> = [];
const next = () =>
  new Promise<Record<string, unknown>>((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
  });
let answer = next();
worker.postMessage({
  t: "init",
  entryUrl: new URL(`file://${dir}/mod.ts`).href,
  config: {},
  plugin: { id: "gc-probe", version: "1.0.0", kind: "trigger" },
  maxOutputBytes: 4096,
  maxLogLines: 10,
  maxEvents: 10,
});
answers.push(await answer);
answer = next();
worker.postMessage({ t: "call", id: 1, method: "detect" });
answers.push(await answer);
worker.terminate();
const result = answers[1];
console.log(JSON.stringify({
  host: typeof (globalThis as { gc?: unknown }).gc,
  plugin: result.ok ? JSON.parse(result.json as string) : result,
}));
