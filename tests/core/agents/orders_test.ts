/**
 * Who may give the action agent orders, decided without a network: the relay-task publisher
 * rule, allowed plugin sources (exact folders, URL prefixes at a path boundary, nothing that a
 * dot segment or escape could redirect), the trust settings' config errors, and the early
 * refusal of a source nothing could make acceptable.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { generateIssuer } from "../../../core/auth/mod.ts";
import { actionConfig } from "../../../core/agents/config.ts";
import { InstallError, installPlugin } from "../../../core/agents/install.ts";
import { PluginCatalog } from "../../../core/agents/plugins.ts";
import {
  canonicalSource,
  pluginTrustPolicy,
  sourceAllowed,
  UntrustedPluginError,
} from "../../../core/agents/plugin_trust.ts";
import { authorizeTask } from "../../../core/agents/relay_tasks.ts";
import { ConfigError } from "../../../core/errors/mod.ts";
import { scaffoldFiles } from "../../../core/plugin/mod.ts";
import { createLogger } from "../../../core/log/mod.ts";
import { tempDir } from "../../helpers.ts";

const TOPIC = "action.tasks.a1";
const OPEN = { publishers: [], acceptAnonymous: false };

Deno.test("relay tasks: anonymous refused unless accepted; listed publishers only when listed", () => {
  assert.equal(authorizeTask({ topic: TOPIC }, TOPIC, OPEN)?.code, "anonymous");
  assert.equal(authorizeTask({ topic: TOPIC, publisher: "" }, TOPIC, OPEN)?.code, "anonymous");
  assert.equal(
    authorizeTask({ topic: TOPIC }, TOPIC, { ...OPEN, acceptAnonymous: true }),
    undefined,
  );
  assert.equal(authorizeTask({ topic: TOPIC, publisher: "ops" }, TOPIC, OPEN), undefined);
  const listed = { publishers: ["ops"], acceptAnonymous: false };
  assert.equal(authorizeTask({ topic: TOPIC, publisher: "ops" }, TOPIC, listed), undefined);
  const other = authorizeTask({ topic: TOPIC, publisher: "dev" }, TOPIC, listed);
  assert.equal(other?.code, "publisher_not_allowed");
  assert.match(String(other?.reason), /publisher dev is not in relay\.task_publishers/);
  const wrong = authorizeTask({ topic: "action.tasks.a2", publisher: "ops" }, TOPIC, listed);
  assert.equal(wrong?.code, "wrong_topic");
});

Deno.test("plugin sources: canonical forms only; exact folders, URL prefixes at a boundary", () => {
  assert.equal(canonicalSource("/srv/plugins/x/"), "/srv/plugins/x");
  for (
    const bad of [
      "/srv/plugins/../etc",
      "/srv/./plugins",
      "https://git.example/org/../evil/x",
      "https://git.example/org/%2e%2e/evil",
      "https://git.example:443/org/x",
      "git@git.example:org/../evil",
      "relative/path",
      "ftp://x/y",
    ]
  ) assert.equal(canonicalSource(bad), undefined, bad);
  const allowed = [
    "/srv/plugins/x",
    "https://git.example/org/",
    "https://git.example/team",
    "git@git.example:ops/",
  ];
  const yes = [
    "/srv/plugins/x",
    "/srv/plugins/x/",
    "https://git.example/org/repo.git",
    "https://git.example/team",
    "https://git.example/team.git",
    "https://git.example/team/sub",
    "git@git.example:ops/repo.git",
  ];
  const no = [
    "/srv/plugins/x/sub",
    "/srv/plugins",
    "/srv/plugins/xy",
    "https://git.example/org",
    "https://git.example/organisation/x",
    "https://git.example/teamevil/x",
    "https://git.example/org/../x",
    "https://git.example.evil/org/x",
    "https://git.example@evil.example/org/x",
    "http://git.example/org/x",
    "git@git.example:opsx/repo",
  ];
  for (const s of yes) assert.ok(sourceAllowed(s, allowed), `allowed: ${s}`);
  for (const s of no) assert.ok(!sourceAllowed(s, allowed), `refused: ${s}`);
  assert.ok(!sourceAllowed("/srv/plugins/x", []));
});

Deno.test("trust settings: entries are canonicalised; bad ones are config errors naming the key", async () => {
  const key = await generateIssuer();
  const policy = pluginTrustPolicy({
    trusted_keys: [key.publicKey],
    allowed_sources: ["https://git.example", "/srv/p/"],
  });
  assert.deepEqual(policy, {
    trustedKeys: [key.publicKey],
    allowedSources: ["https://git.example/", "/srv/p"],
  });
  const errorOf = async (fn: () => unknown): Promise<ConfigError> => {
    try {
      await fn();
    } catch (err) {
      if (err instanceof ConfigError) return err;
      throw err;
    }
    throw new Error("expected a ConfigError");
  };
  const yaml = (plugins: string) =>
    `agent:\n  id: a1\nrelay:\n  url: http://127.0.0.1:1\n${plugins}`;
  const parse = (text: string) =>
    actionConfig.parse(["--config", "a.yaml"], { readFile: () => text, env: () => undefined });
  const k = await errorOf(() => parse(yaml("plugins:\n  trusted_keys: [nope]\n")));
  assert.equal(k.key, "plugins.trusted_keys");
  assert.match(k.message, /a\.yaml/);
  const s = await errorOf(() => parse(yaml("plugins:\n  allowed_sources: [plugins/here]\n")));
  assert.equal(s.key, "plugins.allowed_sources");
  const f = await errorOf(() =>
    parse(yaml("plugins:\n  trusted_keys: [file:/nonexistent/keys]\n"))
  );
  assert.equal(f.key, "plugins.trusted_keys");
  const prod = await errorOf(() =>
    parse(
      "agent:\n  id: a1\n  environment: prod\nrelay:\n  url: https://relay.example\n" +
        "  accept_anonymous_tasks: true\n",
    )
  );
  assert.equal(prod.key, "relay.accept_anonymous_tasks");
  const pub = await errorOf(() =>
    parse("agent:\n  id: a1\nrelay:\n  url: http://127.0.0.1:1\n  task_publishers: ['a b']\n")
  );
  assert.equal(pub.key, "relay.task_publishers");
});

/** A plugin catalog in a temporary folder, and installs of `x-plugin` into it. */
/** `timeoutMs`: the install task's timeout (a test of the timeout itself wants it short). */
async function startInstalls(timeoutMs = 1000) {
  const dir = await tempDir();
  const log = createLogger({ service: "t", level: "error", sink: () => {} });
  const installed = join(dir.path, "installed");
  const workdir = join(dir.path, "work");
  const catalog = new PluginCatalog({
    installedDir: installed,
    builtinDir: join(dir.path, "builtin"),
    sandbox: {
      maxMemoryBytes: 1 << 30,
      maxExecTimeMs: 1000,
      allowedPaths: [],
      networkAccess: false,
    },
    poolSize: 1,
    maxRunners: 1,
    log,
  });
  await Deno.mkdir(installed);
  await Deno.mkdir(workdir);
  /** What installing from `source` with only `allowedSources` allowed failed with, if it did. */
  const install = (source: Parameters<typeof installPlugin>[1], allowedSources: string[]) =>
    installPlugin("x-plugin", source, "install", {
      installedDir: installed,
      workdir,
      maxBytes: 1 << 20,
      timeoutMs,
      catalog,
      trust: { trustedKeys: [], allowedSources },
      log: () => {},
    }).then(() => undefined, (e: unknown) => e);
  const close = async () => {
    await catalog.close();
    await dir.remove();
  };
  return { dir: dir.path, installed, workdir, install, close };
}

Deno.test("a source nobody could trust is refused before anything is fetched", async () => {
  const { workdir, install, close } = await startInstalls();
  try {
    const err = await install({ url: "/anything" }, []);
    assert.ok(err instanceof UntrustedPluginError);
    assert.equal(err.reason, "source_not_allowed");
    assert.match(err.message, /source not allowed: \/anything/);
    assert.deepEqual([...Deno.readDirSync(workdir)], [], "nothing was staged");
  } finally {
    await close();
  }
});

Deno.test("an allowed source's subdir that is a symlink out of the source is refused", async () => {
  const { dir, installed, install, close } = await startInstalls();
  try {
    // A plugin outside the source, and a source whose `sub` points at it.
    const outside = join(dir, "outside");
    await Deno.mkdir(outside);
    for (const [name, text] of Object.entries(scaffoldFiles("x-plugin", "trigger"))) {
      await Deno.writeTextFile(join(outside, name), text);
    }
    const source = join(dir, "source");
    await Deno.mkdir(source);
    await Deno.symlink(outside, join(source, "sub"));
    const err = await install({ url: source, subdir: "sub" }, [source]);
    assert.ok(err instanceof InstallError, String(err));
    assert.match(err.message, /subdir/);
    assert.deepEqual([...Deno.readDirSync(installed)], [], "nothing was installed");
  } finally {
    await close();
  }
});

Deno.test("a git clone is stopped once it takes more than twice plugins.install_max_bytes on disk", async () => {
  // A timeout far beyond what the clone needs: the bound on disk, not the clock, must stop it,
  // however slowly a busy host runs git.
  const { dir, installed, install, close } = await startInstalls(120_000);
  try {
    // A repository whose one commit holds 8 MiB that does not compress, for a 1 MiB bound.
    const repo = join(dir, "repo");
    await Deno.mkdir(repo);
    for (const [name, text] of Object.entries(scaffoldFiles("x-plugin", "action"))) {
      await Deno.writeTextFile(join(repo, name), text);
    }
    const blob = new Uint8Array(8 << 20);
    for (let off = 0; off < blob.length; off += 65_536) {
      crypto.getRandomValues(blob.subarray(off, off + 65_536));
    }
    await Deno.writeFile(join(repo, "blob.bin"), blob);
    const git = async (...args: string[]) => {
      const out = await new Deno.Command("git", {
        args: ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", ...args],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
    };
    await git("init", "-q");
    await git("add", ".");
    await git("commit", "-q", "-m", "big");
    const url = `file://${repo}`;
    const err = await install({ url }, [url]);
    assert.ok(err instanceof InstallError, String(err));
    assert.match(err.message, /git clone stopped: it took more than 2097152 bytes/);
    assert.match(err.message, /plugins\.install_max_bytes/);
    assert.deepEqual([...Deno.readDirSync(installed)], [], "nothing was installed");
  } finally {
    await close();
  }
});

Deno.test("a git clone from a server that never answers ends at the timeout, its helper still waiting", async () => {
  const { installed, install, close } = await startInstalls();
  // A server that takes the connection and never answers: git's HTTP helper waits on it, holding
  // git's stderr open after git itself is stopped at the timeout.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 19421 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) held.push(c);
  })();
  // Without the bound, the install waits for the helper: the server lets go only after this,
  // and the install then ends with git's own failure, not the timeout.
  const release = setTimeout(() => {
    for (const c of held.splice(0)) c.close();
  }, 30_000);
  try {
    const url = "http://127.0.0.1:19421/plugin.git";
    const err = await install({ url }, [url]);
    assert.ok(err instanceof InstallError, String(err));
    assert.match(err.message, /git clone stopped: it did not end within the task's timeout/);
    assert.ok(held.length > 0, "git connected and was still held when the install ended");
    assert.deepEqual([...Deno.readDirSync(installed)], [], "nothing was installed");
  } finally {
    clearTimeout(release);
    for (const c of held) c.close();
    listener.close();
    await accepting.catch(() => {});
    await close();
  }
});
