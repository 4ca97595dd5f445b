// The sidecar serves proxied requests (workers, a durable recorder) without loading Deno's Node layer.
import assert from "node:assert/strict";
import { listeningUrl, ROOT, tempDir, waitFor } from "../../helpers.ts";
import { startAgent } from "./fixtures.ts";

/** V8 flags that log every script an isolate compiles, all isolates into one file. */
function logFlags(file: string): string {
  return `--log-function-events,--logfile=${file},--no-logfile-per-isolate`;
}

/** The Node-layer modules (ext:deno_node/..., node:...) a V8 function-event log names. */
async function nodeModules(file: string): Promise<Set<string>> {
  const text = new TextDecoder().decode(await Deno.readFile(file));
  const found = new Set<string>();
  for (const m of text.matchAll(/^script-details,\d+,((?:ext:deno_node\/|node:)[^,]+),/gm)) {
    found.add(m[1]);
  }
  return found;
}

/** `deno run -A ARGS` with `env`, its output collected; stop() signals it and waits for exit. */
function spawnDeno(args: string[], env: Record<string, string>) {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--no-prompt", "--cached-only", "-A", ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    const d = new TextDecoder();
    for await (const chunk of s) add(d.decode(chunk, { stream: true }));
  };
  const pumps = Promise.all([
    pump(process.stdout, (t) => out += t),
    pump(process.stderr, (t) => err += t),
  ]);
  let stopped: Promise<Deno.CommandStatus> | undefined;
  return {
    stdout: () => out,
    stderr: () => err,
    stop: (signal: Deno.Signal) =>
      stopped ??= (async () => {
        try {
          process.kill(signal);
        } catch { /* already exited */ }
        const status = await process.status;
        await pumps;
        return status;
      })(),
  };
}

/** What any Deno program names of the Node layer before it uses any of it. */
async function baseline(dir: string): Promise<Set<string>> {
  const file = `${dir}/baseline.log`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "console.log(1)"],
    env: { DENO_V8_FLAGS: logFlags(file) },
    stdout: "null",
    stderr: "null",
  }).output();
  assert.equal(out.code, 0);
  return await nodeModules(file);
}

Deno.test("serving /proxy (workers, durable recorder) evaluates no Node-layer module", async () => {
  const dir = await tempDir();
  const agent = startAgent();
  const log = `${dir.path}/functions.log`;
  const recorder = `${dir.path}/records.jsonl`;
  // Deno itself rather than the launcher, whose own helper runs would write to the same log.
  const child = spawnDeno([`${ROOT}cmd/sidecar.ts`, "--port", "0", "--workers", "2"], {
    DENO_V8_FLAGS: logFlags(log),
    IATP_AGENT_URL: agent.url,
    IATP_DATA_DIR: dir.path,
    IATP_RECORDER_FILE: recorder,
  });
  try {
    const ready = () => child.stdout().split("\n").filter((l) => l.includes('"sidecar ready"'));
    await waitFor(() => ready().length === 2, 30_000, "the sidecar's two isolates to be ready");
    const url: string | undefined = listeningUrl(child.stdout());
    assert.ok(url !== undefined, child.stdout());
    // Fresh connections, so both isolates (the main one and the worker) are likely to serve some.
    for (let i = 0; i < 8; i++) {
      const res: Response = await fetch(`${url}/proxy`, {
        method: "POST",
        headers: { "content-type": "application/json", connection: "close" },
        body: JSON.stringify({ task: "look up", n: i }),
      });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).ok, true);
    }
    // The recorder's batching timers fired: the records reached the file.
    await waitFor(
      async () => {
        const text = await Deno.readTextFile(recorder).catch(() => "");
        return text.split("\n").filter((l) => l.length > 0).length >= 8;
      },
      10_000,
      "the records to be written",
    );
    // Read while it serves (V8 writes each event out as it happens): its shutdown is not checked.
    const allowed = await baseline(dir.path);
    const loaded = [...await nodeModules(log)].filter((m) => !allowed.has(m));
    assert.deepEqual(loaded, [], "the sidecar loaded Deno's Node layer");
    const status = await child.stop("SIGTERM");
    assert.equal(status.code, 0, child.stderr());
  } finally {
    await child.stop("SIGKILL");
    await agent.close();
    await dir.remove();
  }
});
