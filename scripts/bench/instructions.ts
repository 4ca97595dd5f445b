/**
 * Instructions per `/proxy` request on the sidecar's main thread (prints JSON). The sidecar is
 * started by the launcher as the sidecar benchmark starts it (its real permissions, one worker,
 * default checks on) in front of an nginx upstream, but its Deno runs under valgrind's callgrind
 * with instrumentation off. `--warmup` sequential requests of the benchmark's 1.1 KB JSON body
 * on one keep-alive connection let V8's code settle, then instrumentation is switched on for
 * `--requests` more and the main thread's instruction count is read from callgrind's dump.
 * Needs valgrind and nginx. `--keep DIR` leaves the dumps there (for `callgrind_annotate`).
 *
 * `--functions N` also lists the main thread's N costliest functions (self instructions per
 * request), JavaScript code and V8's built-ins named from the perf map V8 then writes
 * (`--perf-basic-prof`, only added then: compare counts of runs without it).
 *
 * Usage: deno run -A scripts/bench/instructions.ts [--warmup 9000] [--requests 2000] [--keep DIR]
 *   [--functions N]
 * @module
 */
import { parseArgs } from "node:util";
import { ROOT } from "../../tests/helpers.ts";
import { requestBody, startNginx, stopAll, upstreamServer, waitPort } from "./tools.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    warmup: { type: "string", default: "9000" },
    requests: { type: "string", default: "2000" },
    keep: { type: "string" },
    functions: { type: "string", default: "0" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(`Usage: deno run -A scripts/bench/instructions.ts [--warmup N] [--requests N]
  [--keep DIR] [--functions N]
Prints one JSON document: the sidecar main thread's instructions per /proxy request (callgrind).`);
  Deno.exit(0);
}
const WARMUP = Number(values.warmup);
const REQUESTS = Number(values.requests);
/** Top functions listed (`--functions N`); JavaScript code is named from V8's perf map. */
const FUNCTIONS = Number(values.functions);

/** A free loopback port in 19000-19999. */
function freePort(): number {
  for (;;) {
    const port = 19000 + Math.floor(Math.random() * 1000);
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch { /* taken */ }
  }
}

/** Runs a command to its end; its stdout, or an error naming it. */
async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return text;
}

/** One keep-alive connection sending `request` and reading each answer whole, one at a time. */
async function client(port: number, request: Uint8Array) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buf = new Uint8Array(64 * 1024);
  const dec = new TextDecoder();
  let statuses: Record<string, number> = {};
  const once = async () => {
    await conn.write(request);
    let have = 0;
    for (;;) {
      const n = await conn.read(buf.subarray(have));
      if (n === null) throw new Error("sidecar closed the connection");
      have += n;
      const text = dec.decode(buf.subarray(0, have));
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) continue;
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end));
      if (!length) throw new Error(`answer without content-length: ${text.slice(0, end)}`);
      if (have < end + 4 + Number(length[1])) continue;
      const status = text.slice(9, 12);
      statuses[status] = (statuses[status] ?? 0) + 1;
      return;
    }
  };
  return {
    async send(n: number): Promise<Record<string, number>> {
      statuses = {};
      for (let i = 0; i < n; i++) await once();
      return statuses;
    },
    close: () => conn.close(),
  };
}

/** The main thread's instruction count in a callgrind dump (`summary:` or `totals:`). */
function instructionsOf(text: string): number {
  const m = /^(?:summary|totals):\s+(\d+)/m.exec(text);
  if (!m) throw new Error("no instruction total in the callgrind dump");
  return Number(m[1]);
}

/** The perf map V8 writes: code start, size and name, sorted by start. */
function perfMap(pid: number): { start: number; end: number; name: string }[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(`/tmp/perf-${pid}.map`);
  } catch { /* none */ }
  const out = [];
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) {
      const start = parseInt(m[1], 16);
      out.push({ start, end: start + parseInt(m[2], 16), name: m[3] });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

/**
 * Where the `deno` binary is loaded in process `pid` (its first mapping), or 0. Callgrind names
 * a function of the binary it has no symbol for by its address less that base; V8's perf map
 * names its built-ins, which lie in the binary, by their address in the process.
 */
function binaryBase(pid: number, binary: string): number {
  let text = "";
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/maps`);
  } catch { /* gone */ }
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+)-[0-9a-f]+ \S+ 0+ \S+ \d+\s+(.*)$/.exec(line);
    if (m && m[2] === binary) return parseInt(m[1], 16);
  }
  return 0;
}

/**
 * The `n` functions of a dump with the most self instructions per request, named. `base`: where
 * the `deno` binary is loaded ({@linkcode binaryBase}), to name V8's built-ins.
 */
async function topFunctions(
  dump: string,
  pid: number,
  n: number,
  base: number,
  binary: string,
): Promise<string[]> {
  const text = await run("callgrind_annotate", ["--threshold=100", dump]);
  const map = perfMap(pid);
  // With --keep the map is kept too (/tmp/perf-<pid>.map, to read the dump's call tree).
  if (!values.keep) await Deno.remove(`/tmp/perf-${pid}.map`).catch(() => {});
  const nameOf = (addr: number): string | undefined => {
    let lo = 0, hi = map.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (map[mid].end <= addr) lo = mid + 1;
      else if (map[mid].start > addr) hi = mid - 1;
      else return map[mid].name;
    }
    return undefined;
  };
  const byName = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^\s*([\d,]+) \([^)]*\)\s+(.*)$/.exec(line);
    if (!m || m[2].startsWith("PROGRAM TOTALS")) continue;
    const count = Number(m[1].replaceAll(",", ""));
    const jit = /^\?\?\?:0x([0-9a-f]+) \[\?\?\?\]/.exec(m[2]);
    const inBinary = /^\?\?\?:0x([0-9a-f]+) \[(.*)\]$/.exec(m[2]);
    const builtin = inBinary && inBinary[2] === binary
      ? nameOf(base + parseInt(inBinary[1], 16))
      : undefined;
    const name = (jit && nameOf(parseInt(jit[1], 16))) ?? builtin ?? m[2];
    byName.set(name, (byName.get(name) ?? 0) + count);
  }
  return [...byName].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([name, count]) => `${Math.round(count / REQUESTS)} ${name}`);
}

/** The dump files starting with `prefix` in `dir`, once their first one is there. */
async function dumpsOf(dir: string, prefix: string): Promise<string[]> {
  for (let i = 0; i < 300; i++) {
    const dumps = [...Deno.readDirSync(dir)].map((e) => e.name)
      .filter((n) => n.startsWith(prefix)).sort();
    if (dumps.length > 0) return dumps;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no callgrind dump in ${dir}`);
}

async function main() {
  const dir = values.keep ?? await Deno.makeTempDir({ prefix: "iatp-bench-instructions-" });
  await Deno.mkdir(dir, { recursive: true });
  const [up, sc] = [freePort(), freePort()];
  const children: Deno.ChildProcess[] = [];
  // The launcher finds Deno through DENO_BIN: this wrapper runs the sidecar's Deno (only it)
  // under callgrind, one dump file per thread.
  const real = Deno.execPath();
  const wrapper = `${dir}/deno`;
  await Deno.writeTextFile(
    wrapper,
    `#!/bin/sh
case " $* " in
  *" ${ROOT}cmd/sidecar.ts "*)
    for a; do
      shift
      case "$a" in
        --v8-flags=*) set -- "$@" "$a${FUNCTIONS > 0 ? ",--perf-basic-prof" : ""}" ;;
        *) set -- "$@" "$a" ;;
      esac
    done
    exec valgrind --tool=callgrind --instr-atstart=no \\
    --separate-threads=yes --callgrind-out-file=${dir}/callgrind.out.%p "${real}" "$@" ;;
esac
exec "${real}" "$@"
`,
  );
  await Deno.chmod(wrapper, 0o755);
  try {
    children.push(await startNginx(dir, "upstream", upstreamServer(up), up));
    const sidecar = new Deno.Command(`${ROOT}scripts/iatp`, {
      args: ["sidecar", "--port", String(sc), "--log-level", "warn", "--workers", "1"],
      env: { IATP_AGENT_URL: `http://127.0.0.1:${up}`, IATP_DATA_DIR: dir, DENO_BIN: wrapper },
      stdout: "null",
      stderr: "null",
    }).spawn();
    children.push(sidecar);
    await waitPort(sc, 120_000);
    const body = new TextEncoder().encode(requestBody());
    const head = `POST /proxy HTTP/1.1\r\nHost: 127.0.0.1:${sc}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const request = new Uint8Array([...new TextEncoder().encode(head), ...body]);
    const c = await client(sc, request);
    const warm = await c.send(WARMUP);
    const pid = String(sidecar.pid);
    await run("callgrind_control", ["-i", "on", pid]);
    const measured = await c.send(REQUESTS);
    await run("callgrind_control", ["-d", pid]);
    const binary = Deno.realPathSync(real);
    const base = FUNCTIONS > 0 ? binaryBase(sidecar.pid, binary) : 0;
    await run("callgrind_control", ["-i", "off", pid]);
    c.close();
    // Thread 1 is the main thread: the dump taken above is the first.
    const dumps = await dumpsOf(dir, `callgrind.out.${pid}.1-`);
    const main = instructionsOf(await Deno.readTextFile(`${dir}/${dumps[0]}`));
    let all = 0;
    for (const d of dumps) all += instructionsOf(await Deno.readTextFile(`${dir}/${d}`));
    console.log(JSON.stringify(
      {
        benchmark: "sidecar_instructions",
        warmup_requests: WARMUP,
        requests: REQUESTS,
        statuses: { warmup: warm, measured },
        main_thread_instructions_per_request: Math.round(main / REQUESTS),
        all_threads_instructions_per_request: Math.round(all / REQUESTS),
        main_thread_dump: values.keep ? `${dir}/${dumps[0]}` : undefined,
        ...(FUNCTIONS > 0
          ? {
            functions: await topFunctions(
              `${dir}/${dumps[0]}`,
              sidecar.pid,
              FUNCTIONS,
              base,
              binary,
            ),
          }
          : {}),
      },
      null,
      2,
    ));
  } finally {
    await stopAll(children);
    if (!values.keep) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

await main();
