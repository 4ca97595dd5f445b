/**
 * The docs hold: every `sh` block of README.md and docs/getting-started.md runs as written from a
 * checkout (in a fresh working folder, with `up`'s ports free), and every relative link in
 * README.md and docs/*.md points to an existing file and heading, and the README links every page.
 *
 * A block is steered by an HTML comment on the line before its fence:
 * `<!-- docs-test: skip "why" -->` (not run: a second terminal, dockerd, the whole suite),
 * `<!-- docs-test: server "text" -->` (started in the background, ready once its output holds the
 * text, stopped with SIGINT at `stop-servers` or at the end of the file and expected to exit 0),
 * `<!-- docs-test: exit N -->` (the exit status expected instead of 0) and
 * `<!-- docs-test: expect 'text' -->` (the output must hold the text). A `<!-- docs-test:
 * stop-servers -->` line on its own stops the servers started so far.
 *
 * Run as root, getting-started.md also runs as an unprivileged user (nobody, with a home and a
 * Deno cache of its own), as a person on an ordinary machine runs it: a step that works only for
 * root (a path only root may write, a file only root may read) fails there.
 * @module
 */
import assert from "node:assert/strict";
import { ROOT, tempDir, waitFor } from "./helpers.ts";

/** One step of a document: a fenced `sh` block with its directives, or a stop marker. */
interface Step {
  line: number;
  code: string;
  skip?: string;
  server?: string;
  exit: number;
  expect: string[];
  stop: boolean;
}

const DIRECTIVE = /^<!--\s*docs-test:\s*(.*?)\s*-->$/;
const UP_PORTS = [
  "RELAY",
  "POLICY",
  "AUDIT",
  "DASHBOARD",
  "SIDECAR",
  "UNTRUSTED_SIDECAR",
  "AGENT",
  "SENSOR",
  "ACTION",
];

/** Parses a directive's words: `name`, `name "arg"`, `name 'arg'` or `name N`. */
function parseDirective(text: string, line: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const word = /\s*([a-z][a-z-]*)(?:\s+(?:"([^"]*)"|'([^']*)'|(\d+)))?/y;
  let m: RegExpExecArray | null;
  while (word.lastIndex < text.length && (m = word.exec(text)) !== null) {
    out.push([m[1], m[2] ?? m[3] ?? m[4] ?? ""]);
  }
  if (word.lastIndex < text.length) throw new Error(`line ${line}: bad docs-test directive`);
  return out;
}

/** The steps of a markdown document, in order. */
function stepsOf(markdown: string): Step[] {
  const lines = markdown.split("\n");
  const steps: Step[] = [];
  let pending: Array<[string, string]> = [];
  for (let i = 0; i < lines.length; i++) {
    const d = DIRECTIVE.exec(lines[i].trim());
    if (d) {
      const words = parseDirective(d[1], i + 1);
      if (words.length === 1 && words[0][0] === "stop-servers") {
        steps.push({ line: i + 1, code: "", exit: 0, expect: [], stop: true });
      } else pending = words;
      continue;
    }
    const fence = /^```(\S*)/.exec(lines[i]);
    if (!fence) {
      if (lines[i].trim() !== "") pending = [];
      continue;
    }
    let end = i + 1;
    while (end < lines.length && !lines[end].startsWith("```")) end++;
    if (fence[1] === "sh") {
      const step: Step = {
        line: i + 1,
        code: lines.slice(i + 1, end).join("\n"),
        exit: 0,
        expect: [],
        stop: false,
      };
      for (const [name, arg] of pending) {
        if (name === "skip") step.skip = arg || "skipped";
        else if (name === "server") step.server = arg;
        else if (name === "exit") step.exit = Number(arg);
        else if (name === "expect") step.expect.push(arg);
        else throw new Error(`line ${i + 1}: unknown docs-test directive ${name}`);
      }
      steps.push(step);
    }
    pending = [];
    i = end;
  }
  return steps;
}

/** The unprivileged user a root run also runs getting-started.md as: nobody. */
const NOBODY = 65534;

/** Who runs a document's blocks: the test's own user, or nobody with this home folder. */
type Runner = { home?: string };

/** `bash -euo pipefail -c code`, as nobody when the runner has a home of its own. */
function bashCommand(code: string, runner: Runner): [string, string[]] {
  const bash = ["bash", "-euo", "pipefail", "-c", code];
  if (runner.home === undefined) return [bash[0], bash.slice(1)];
  return ["setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--", ...bash]];
}

/**
 * Whether nobody can run the checkout's launcher (the test runs as root, with setpriv, in a
 * checkout others may read), or why not.
 */
const unprivileged = ((): { ok: boolean; why: string } => {
  if (Deno.uid() !== 0) return { ok: false, why: "runs as root only" };
  try {
    const [cmd, args] = bashCommand(
      `test -x '${ROOT}scripts/iatp' && test -r '${ROOT}deno.lock' && test -r '${ROOT}main.ts'`,
      { home: "/" },
    );
    const ok = new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
    return { ok, why: ok ? "" : "the checkout is not readable by nobody" };
  } catch {
    return { ok: false, why: "no setpriv" };
  }
})();

/** The environment a block runs in: the caller's, minus iatp's own settings, `up` on free ports. */
function blockEnv(runner: Runner): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("IATP_")) env[k] = v;
  }
  for (const p of UP_PORTS) env[`IATP_UP_${p}_PORT`] = "0";
  if (runner.home !== undefined) {
    env.HOME = runner.home;
    env.DENO_DIR = `${runner.home}/.cache/deno`;
    env.USER = env.LOGNAME = "nobody";
  }
  return env;
}

/** A working folder whose `scripts/iatp` is the checkout's launcher, owned by `uid` when given. */
async function workdir(uid?: number): Promise<{ path: string; remove(): Promise<void> }> {
  const dir = await tempDir("iatp-docs-");
  await Deno.mkdir(`${dir.path}/scripts`);
  await Deno.writeTextFile(
    `${dir.path}/scripts/iatp`,
    `#!/bin/sh\nexec '${ROOT}scripts/iatp' "$@"\n`,
  );
  await Deno.chmod(`${dir.path}/scripts/iatp`, 0o755);
  if (uid !== undefined) {
    for (const p of [dir.path, `${dir.path}/scripts`, `${dir.path}/scripts/iatp`]) {
      await Deno.chown(p, uid, uid);
    }
  }
  return dir;
}

/** A running block: its output so far, and how to stop it. */
interface Running {
  step: Step;
  output(): string;
  stop(signal: Deno.Signal): Promise<Deno.CommandStatus>;
  status: Promise<Deno.CommandStatus>;
}

/** Starts `bash -c code` in `cwd`, collecting stdout and stderr together. */
function spawnBlock(step: Step, code: string, cwd: string, runner: Runner): Running {
  const [cmd, args] = bashCommand(code, runner);
  const child = new Deno.Command(cmd, {
    args,
    cwd,
    env: blockEnv(runner),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) text += dec.decode(chunk, { stream: true });
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = (async () => {
    const s = await child.status;
    await pumps;
    return s;
  })();
  return {
    step,
    output: () => text,
    status,
    async stop(signal) {
      try {
        child.kill(signal);
      } catch { /* already exited */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 30_000);
      try {
        return await status;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** A server block as one command run with `exec`, so that signals reach the service itself. */
function execForm(code: string): string {
  const joined = code.replace(/\\\n\s*/g, "").trim();
  assert.ok(!joined.includes("\n"), "a server block holds one command");
  const m = /^((?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*)(.*)$/.exec(joined);
  return `${m?.[1] ?? ""}exec ${m?.[2] ?? joined}`;
}

/** Stops every running server with SIGINT and checks each drained and exited 0. */
async function stopServers(servers: Running[], where: string): Promise<void> {
  for (const s of servers.splice(0)) {
    const status = await s.stop("SIGINT");
    assert.equal(
      status.code,
      0,
      `${where}:${s.step.line}: the server exited ${status.code} on SIGINT\n${s.output()}`,
    );
  }
}

/** Runs one block to completion and checks its exit status and output. */
async function runStep(step: Step, cwd: string, where: string, runner: Runner): Promise<void> {
  const run = spawnBlock(step, step.code, cwd, runner);
  const timer = setTimeout(() => run.stop("SIGKILL"), 180_000);
  const status = await run.status;
  clearTimeout(timer);
  const out = run.output();
  assert.equal(status.code, step.exit, `${where}:${step.line}: exit ${status.code}\n${out}`);
  for (const text of step.expect) {
    assert.ok(out.includes(text), `${where}:${step.line}: output lacks ${text}\n${out}`);
  }
}

/** Runs a document's steps in order in a fresh working folder (as nobody: `unprivileged`). */
async function runDocument(rel: string, opts: { unprivileged?: boolean } = {}): Promise<void> {
  const steps = stepsOf(await Deno.readTextFile(`${ROOT}${rel}`));
  assert.ok(steps.some((s) => !s.skip && !s.stop), `${rel} has no runnable sh block`);
  const uid = opts.unprivileged ? NOBODY : undefined;
  const dir = await workdir(uid);
  const home = uid === undefined ? undefined : await tempDir("iatp-docs-home-");
  if (home) await Deno.chown(home.path, NOBODY, NOBODY);
  const runner: Runner = { home: home?.path };
  const servers: Running[] = [];
  try {
    for (const step of steps) {
      if (step.stop) await stopServers(servers, rel);
      else if (step.skip) continue;
      else if (step.server !== undefined) {
        const ready = step.server;
        const s = spawnBlock(step, execForm(step.code), dir.path, runner);
        servers.push(s);
        let exited = false;
        s.status.then(() => exited = true);
        await waitFor(
          () => s.output().includes(ready) || exited,
          120_000,
          `${rel}:${step.line} to print "${ready}"`,
        );
        assert.ok(!exited, `${rel}:${step.line}: the server exited\n${s.output()}`);
      } else await runStep(step, dir.path, rel, runner);
    }
    await stopServers(servers, rel);
  } finally {
    for (const s of servers) await s.stop("SIGKILL");
    await dir.remove();
    await home?.remove();
  }
}

for (const rel of ["README.md", "docs/getting-started.md"]) {
  Deno.test({
    name: `docs: the sh blocks of ${rel} run as written from a checkout`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () => runDocument(rel),
  });
}

Deno.test({
  name: "docs: the sh blocks of docs/getting-started.md run as written by an unprivileged user",
  ignore: !unprivileged.ok,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () => runDocument("docs/getting-started.md", { unprivileged: true }),
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/[^\p{L}\p{N}\p{M}_\- ]/gu, "").replace(/ /g, "-");
}

/** The anchors of a markdown document's headings (outside code blocks), duplicates numbered. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const s = slug(m[1]);
    const n = seen.get(s) ?? 0;
    seen.set(s, n + 1);
    out.add(n === 0 ? s : `${s}-${n}`);
  }
  return out;
}

/** The link targets of a markdown document, outside code blocks and code spans. */
function linksOf(markdown: string): Array<{ target: string; line: number }> {
  const out: Array<{ target: string; line: number }> = [];
  let fenced = false;
  markdown.split("\n").forEach((line, i) => {
    if (line.startsWith("```")) fenced = !fenced;
    if (fenced) return;
    const text = line.replace(/`[^`]*`/g, "");
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) out.push({ target: m[1], line: i + 1 });
  });
  return out;
}

Deno.test("docs: every relative link in README.md and docs/*.md names a file and heading", async () => {
  const files = ["README.md"];
  for await (const e of Deno.readDir(`${ROOT}docs`)) {
    if (e.isFile && e.name.endsWith(".md")) files.push(`docs/${e.name}`);
  }
  const broken: string[] = [];
  let checked = 0;
  for (const rel of files) {
    const base = new URL(rel, `file://${ROOT}`);
    for (const { target, line } of linksOf(await Deno.readTextFile(base))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      checked++;
      const [path, anchor] = target.split("#", 2);
      const file = path === "" ? base : new URL(path, base);
      let text: string;
      try {
        text = Deno.statSync(file).isFile && file.pathname.endsWith(".md")
          ? await Deno.readTextFile(file)
          : "";
      } catch {
        broken.push(`${rel}:${line}: ${target}: no such file`);
        continue;
      }
      if (anchor !== undefined && !anchorsOf(text).has(anchor)) {
        broken.push(`${rel}:${line}: ${target}: no such heading`);
      }
    }
  }
  assert.ok(checked > 50, `only ${checked} relative links found: is the parser broken?`);
  assert.deepEqual(broken, []);
});

Deno.test("docs: README.md links every page of docs/", async () => {
  const readme = new Set(
    linksOf(await Deno.readTextFile(`${ROOT}README.md`)).map((l) => l.target.split("#")[0]),
  );
  const missing: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}docs`)) {
    if (e.isFile && e.name.endsWith(".md") && !readme.has(`docs/${e.name}`)) missing.push(e.name);
  }
  assert.deepEqual(missing, [], "pages of docs/ the README does not link");
});
