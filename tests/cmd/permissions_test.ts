import assert from "node:assert/strict";
import { COMMANDS } from "../../cmd/mod.ts";
import {
  envGranted,
  expandFlags,
  extendFlag,
  grantsOf,
  launchEnv,
  launchFlags,
  lineEnv,
  lineFlags,
  parsePermissionTable,
  PERMISSIONS,
} from "../../cmd/permissions.ts";
import { SERVICE_COMMANDS } from "../../cmd/systemd.ts";
import { ROOT } from "../helpers.ts";

Deno.test("every subcommand has exactly one line in the permission table", () => {
  for (const c of COMMANDS) assert.ok(PERMISSIONS.has(c.name), `no permissions for ${c.name}`);
  const text = Deno.readTextFileSync(new URL("../../cmd/permissions.txt", import.meta.url));
  const names = text.split("\n").filter((l) => l.trim() && !l.startsWith("#")).map((l) =>
    l.split(/\s+/)[0]
  );
  assert.equal(new Set(names).size, names.length, "duplicate lines");
});

Deno.test("no subcommand gets --allow-all, ffi, or unrestricted write", () => {
  for (const [name, flags] of PERMISSIONS) {
    assert.ok(!flags.includes("--allow-all") && !flags.includes("-A"), name);
    assert.equal(grantsOf(flags, "ffi"), "none", name);
    assert.notEqual(grantsOf(flags, "write"), "all", `${name} may write anywhere`);
    assert.notEqual(grantsOf(flags, "run"), "all", `${name} may run anything`);
  }
  assert.deepEqual(PERMISSIONS.get("help"), []);
});

/** The subcommands whose process runs until stopped. */
const SERVICES_AND_HOSTS = [...SERVICE_COMMANDS, "plugin", "plugin-host", "up"];

Deno.test("a line's words are Deno flags or environment settings (NAME=VALUE), nothing else", () => {
  for (const [name, words] of PERMISSIONS) {
    const env = Object.keys(lineEnv(words));
    assert.equal(lineFlags(words).length + env.length, words.length, name);
    for (const flag of lineFlags(words)) assert.match(flag, /^--[a-z]/, `${name}: ${flag}`);
    // Only glibc's allocator tuning, and Deno's own update check turned off: never a variable
    // that changes what code runs (LD_*, any other DENO_*).
    for (const v of env) {
      assert.match(v, /^(MALLOC_[A-Z_]+_|DENO_NO_UPDATE_CHECK)$/, `${name}: ${v}`);
    }
  }
  // Every long-running process starts without Deno's update check: 500 ms into a `deno run` it
  // resolves and contacts Deno's download host (not a grant of the table) and maps 1.3-1.7 MB
  // more of the binary for its HTTP client and TLS (docs/deployment.md).
  for (const name of SERVICES_AND_HOSTS) {
    assert.equal(lineEnv(PERMISSIONS.get(name)!).DENO_NO_UPDATE_CHECK, "1", name);
  }
  assert.equal(lineEnv(PERMISSIONS.get("policy")!).MALLOC_MMAP_THRESHOLD_, "32768");
  // The sidecar's compiler blocks, freed after each optimization under load, go back to the
  // system instead of staying in glibc's heaps (docs/deployment.md).
  assert.equal(lineEnv(PERMISSIONS.get("sidecar")!).MALLOC_MMAP_THRESHOLD_, "32768");
  assert.ok(v8FlagsOf("policy").includes("--max-semi-space-size=2"));
  // The policy's old generation grows to twice what survived its last full collection
  // (docs/deployment.md).
  assert.ok(v8FlagsOf("policy").includes("--heap-growing-percent=100"));
  // The sidecar's young generation is capped at 4 MiB per semi-space (docs/deployment.md).
  assert.ok(v8FlagsOf("sidecar").includes("--max-semi-space-size=4"));
  // The status agent's young generation is capped at 1 MiB per semi-space (docs/deployment.md).
  assert.ok(v8FlagsOf("status").includes("--max-semi-space-size=1"), "status");
});

/** The V8 flags of a table line's `--v8-flags=` word (none: empty). */
function v8FlagsOf(name: string): string[] {
  const word = lineFlags(PERMISSIONS.get(name)!).find((f) => f.startsWith("--v8-flags="));
  return word?.slice("--v8-flags=".length).split(",") ?? [];
}

Deno.test("every long-running service runs with --expose-gc (its idle reclaim), no other line", () => {
  const services: string[] = [...SERVICE_COMMANDS, "up"]; // up runs the services in its process
  for (const name of services) assert.ok(v8FlagsOf(name).includes("--expose-gc"), name);
  // The plugin host (its own process, its own --v8-flags) and every one-shot command go without.
  for (const name of PERMISSIONS.keys()) {
    if (!services.includes(name)) assert.ok(!v8FlagsOf(name).includes("--expose-gc"), name);
  }
});

Deno.test("launchEnv: the line's NAME=VALUE words, the operator's own value kept", () => {
  const table = parsePermissionTable(
    "svc  MALLOC_ARENA_MAX=2 --allow-net A_B=\nother --allow-net\n",
  );
  assert.deepEqual(lineEnv(table.get("svc")!), { MALLOC_ARENA_MAX: "2", A_B: "" });
  assert.deepEqual(lineFlags(table.get("svc")!), ["--allow-net"]);
  assert.deepEqual(launchEnv("svc", {}, table), { MALLOC_ARENA_MAX: "2", A_B: "" });
  assert.deepEqual(launchEnv("svc", { MALLOC_ARENA_MAX: "4" }, table), { A_B: "" });
  assert.deepEqual(launchEnv("other", {}, table), {});
  assert.deepEqual(launchEnv("nope", {}, table), {});
  const layout = { root: "/app", data: "/data", deno: "/usr/local/bin/deno" };
  assert.deepEqual(launchFlags({ name: "svc", args: [], env: {}, layout, table }), [
    "--allow-net",
  ]);
});

Deno.test("every env var a service reads is granted to it", async () => {
  for (const entry of COMMANDS) {
    const flags = PERMISSIONS.get(entry.name)!;
    const command = await entry.load() as { spec?: { envNames(): string[] } };
    if (!command.spec) continue;
    for (const name of command.spec.envNames()) {
      assert.ok(envGranted(flags, name), `${entry.name} reads ${name} but may not`);
    }
  }
});

Deno.test("table parsing handles comments, blanks and wildcards", () => {
  const t = parsePermissionTable("# c\n\nx --allow-env=A_*,B --allow-net\ny\n");
  assert.deepEqual(t.get("y"), []);
  assert.ok(envGranted(t.get("x")!, "A_ONE"));
  assert.ok(envGranted(t.get("x")!, "B"));
  assert.ok(!envGranted(t.get("x")!, "BB"));
  assert.equal(grantsOf(t.get("x")!, "net"), "all");
});

Deno.test("compiled mode revokes every category a subcommand's line does not grant", async () => {
  // A child process so the revocation does not affect this test runner.
  const code = `
    import { narrowToSubcommand, parsePermissionTable } from "${
    new URL("../../cmd/permissions.ts", import.meta.url).href
  }";
    const t = parsePermissionTable("svc --allow-net --allow-env=X_*\\n");
    const revoked = narrowToSubcommand("svc", t);
    const q = (name) => Deno.permissions.querySync({ name }).state;
    console.log(JSON.stringify({ revoked, net: q("net"), read: q("read"), run: q("run") }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(text);
  assert.deepEqual(r.revoked, ["read", "write", "run", "sys", "ffi"]);
  assert.equal(r.net, "granted");
  assert.equal(r.read, "prompt");
  assert.equal(r.run, "prompt");
});

/** Runs `code` with `deno run` and exactly `flags` (eval would grant everything). */
async function childWith(flags: string[], code: string): Promise<Record<string, unknown>> {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(file, code);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--quiet",
        `--config=${ROOT}deno.json`,
        ...flags,
        file,
      ],
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout));
  } finally {
    await Deno.remove(file);
  }
}

const PERMISSIONS_TS = new URL("../../cmd/permissions.ts", import.meta.url).href;

Deno.test("Deno 2.9 cannot narrow a global grant to a path; it can only drop list entries", async () => {
  const probe = `
    const r = Deno.permissions.revokeSync({ name: "read", path: "/etc" });
    let read = "ok";
    try { Deno.readTextFileSync("/etc/hostname"); } catch (e) { read = (e as Error).name; }
    console.log(JSON.stringify({ state: r.state, read }));
  `;
  // Under a global grant, revoking a path is a no-op: the path stays granted and readable.
  assert.deepEqual(await childWith(["--allow-read"], probe), {
    state: "granted",
    read: "ok",
  });
  // Under a list grant, revoking a path drops every granted entry covering it (here /etc).
  const listed = await childWith(["--allow-read=/etc,/tmp"], probe);
  assert.deepEqual(listed, { state: "prompt", read: "NotCapable" });
});

Deno.test("compiled binary: narrowing revokes whole categories and leaves granted ones whole", async () => {
  // The flags scripts/compile bakes into the binary, read from the script itself.
  const script = await Deno.readTextFile(new URL("../../scripts/compile", import.meta.url));
  const m = /^perms=\(([^)]*)\)$/m.exec(script);
  assert.ok(m, "scripts/compile has a perms=(...) line");
  const baked = m[1].trim().split(/\s+/);
  const code = (name: string) => `
    import { narrowToSubcommand } from "${PERMISSIONS_TS}";
    const revoked = narrowToSubcommand("${name}");
    const out: Record<string, unknown> = { revoked };
    const attempt = (k: string, fn: () => unknown) => {
      try { fn(); out[k] = "ok"; } catch (e) { out[k] = e instanceof Error ? e.name : String(e); }
    };
    const outside = Deno.env.get("OUTSIDE") ?? "";
    attempt("run_echo", () => new Deno.Command("/bin/echo", { args: ["x"] }).outputSync());
    attempt("write_outside", () => Deno.writeTextFileSync(outside + "/w", "x"));
    attempt("read_passwd", () => Deno.readTextFileSync("/etc/passwd"));
    attempt("env_path", () => Deno.env.get("PATH"));
    attempt("sys", () => Deno.hostname());
    console.log(JSON.stringify(out));
  `;
  const outside = await Deno.makeTempDir();
  try {
    Deno.env.set("OUTSIDE", outside);
    // action: no sys in its line, so sys goes; run, write, read and env are granted in part,
    // so the binary keeps them whole: it can run /bin/echo and write outside its data dir.
    const action = await childWith(baked, code("action"));
    assert.deepEqual(action.revoked, ["sys", "ffi"]);
    assert.deepEqual(
      [action.run_echo, action.write_outside, action.read_passwd, action.env_path, action.sys],
      ["ok", "ok", "ok", "ok", "NotCapable"],
    );
    // relay: no run and no sys in its line, so both go; read and write stay whole.
    const relay = await childWith(baked, code("relay"));
    assert.deepEqual(relay.revoked, ["run", "sys", "ffi"]);
    assert.deepEqual([relay.run_echo, relay.write_outside, relay.read_passwd, relay.sys], [
      "NotCapable",
      "ok",
      "ok",
      "NotCapable",
    ]);
    // dashboard: reads its credential files under $DATA, so read stays whole in the binary;
    // it writes and runs nothing.
    const dash = await childWith(baked, code("dashboard"));
    assert.deepEqual(dash.revoked, ["write", "run", "sys", "ffi"]);
    assert.deepEqual([dash.read_passwd, dash.write_outside, dash.run_echo], [
      "ok",
      "NotCapable",
      "NotCapable",
    ]);
  } finally {
    Deno.env.delete("OUTSIDE");
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("launchFlags: the line, placeholders filled, plus only the files named for it", () => {
  const layout = { root: "/app", data: "/data", deno: "/usr/local/bin/deno" };
  assert.deepEqual(launchFlags({ name: "nope", args: [], env: {}, layout }), []);
  assert.deepEqual(launchFlags({ name: "help", args: [], env: {}, layout }), []);
  const relay = launchFlags({
    name: "relay",
    args: ["--config", "/etc/iatp/relay.yaml", "--port=8005"],
    env: {
      IATP_RELAY_AUTH_KEYS: "file:/run/iatp/issuer.pub",
      HOME: "file:/root/not-for-relay", // an env var relay may not read grants nothing
      IATP_ALLOW_WRITE: "/srv/relay",
    },
    layout,
  });
  assert.deepEqual(relay, [
    "--no-code-cache",
    "--v8-flags=--expose-gc",
    "--allow-net",
    "--allow-env=IATP_*,LOG_TOKENS,LOG_STREAM,OTEL_*",
    "--allow-read=/app,/data,/etc/iatp/relay.yaml,/run/iatp/issuer.pub",
    "--allow-write=/data,/srv/relay",
  ]);
  const action = launchFlags({
    name: "action",
    args: ["--relay-token=file:/run/iatp/action.token"],
    env: {},
    layout,
  });
  assert.ok(action.includes("--allow-run=/usr/local/bin/deno,git,bwrap"));
  assert.ok(
    action.includes("--allow-read=/app,/data,/proc/loadavg,/etc/hostname,/run/iatp/action.token"),
  );
  assert.throws(
    () => launchFlags({ name: "relay", args: ["--config", "/etc/a,b.yaml"], env: {}, layout }),
    RangeError,
  );
  assert.throws(() => extendFlag([], "read", ["/a,b"]), RangeError);
  assert.deepEqual(extendFlag(["--allow-read"], "read", ["/x"]), ["--allow-read"]);
  assert.deepEqual(expandFlags(["--allow-run=$DENO"], layout), [
    "--allow-run=/usr/local/bin/deno",
  ]);
});

Deno.test("the image launcher and scripts/iatp give every subcommand the same flags", async () => {
  const root = ROOT.replace(/\/$/, "");
  const deno = "/opt/deno/bin/deno";
  for (const name of PERMISSIONS.keys()) {
    const bash = await new Deno.Command("bash", {
      args: [
        "-c",
        `source "${root}/scripts/lib.sh" && iatp_permission_flags "$0" "$1"`,
        name,
        deno,
      ],
      env: { IATP_DATA_DIR: "/srv/data", IATP_ALLOW_READ: "/run/extra" },
      clearEnv: true,
    }).output();
    assert.equal(bash.code, 0, new TextDecoder().decode(bash.stderr));
    const fromBash = new TextDecoder().decode(bash.stdout).split("\n").filter(Boolean);
    const fromTs = launchFlags({
      name,
      args: [],
      env: { IATP_DATA_DIR: "/srv/data", IATP_ALLOW_READ: "/run/extra" },
      layout: { root, data: "/srv/data", deno },
    });
    assert.deepEqual(fromTs, fromBash, name);
    const operators: Record<string, string>[] = [{}, { MALLOC_MMAP_THRESHOLD_: "65536" }];
    for (const operator of operators) {
      const env = await new Deno.Command("bash", {
        args: ["-c", `source "${root}/scripts/lib.sh" && iatp_permission_env "$0"`, name],
        env: { IATP_ROOT: root, ...operator },
        clearEnv: true,
      }).output();
      assert.equal(env.code, 0, new TextDecoder().decode(env.stderr));
      const words = new TextDecoder().decode(env.stdout).split("\n").filter(Boolean);
      const fromTsEnv = Object.entries(launchEnv(name, operator)).map(([k, v]) => `${k}=${v}`);
      assert.deepEqual(fromTsEnv, words, `${name} ${JSON.stringify(operator)}`);
    }
  }
});

Deno.test("scripts/iatp keeps a checkout or data path holding spaces one flag", async () => {
  const root = ROOT.replace(/\/$/, "");
  const tmp = await Deno.makeTempDir();
  const checkout = `${tmp}/my iatp`;
  await Deno.mkdir(`${checkout}/cmd`, { recursive: true });
  await Deno.copyFile(`${root}/cmd/permissions.txt`, `${checkout}/cmd/permissions.txt`);
  const bash = await new Deno.Command("bash", {
    args: [
      "-c",
      `source "${root}/scripts/lib.sh" && IATP_ROOT="$1" iatp_permission_flags relay "$0"`,
      "/opt/deno/bin/deno",
      checkout,
    ],
    env: { IATP_DATA_DIR: "/srv/my data", IATP_ALLOW_WRITE: "/run/w" },
    clearEnv: true,
  }).output();
  assert.equal(bash.code, 0, new TextDecoder().decode(bash.stderr));
  const flags = new TextDecoder().decode(bash.stdout).split("\n").filter(Boolean);
  await Deno.remove(tmp, { recursive: true });
  assert.ok(flags.includes(`--allow-read=${checkout},/srv/my data`), flags.join(" | "));
  assert.ok(flags.includes("--allow-write=/srv/my data,/run/w"), flags.join(" | "));
});

Deno.test("status: the Docker socket and legacy folders are granted in legacy mode only", async () => {
  const { grantsFor } = await import("../../cmd/grants.ts");
  const writes = async (args: string[]) =>
    (await grantsFor(COMMANDS, "status", args)).filter((g) => g.access === "write").map((g) =>
      g.path
    );
  const socket = "/tmp/iatp-grants-test/docker.sock";
  assert.deepEqual(await writes(["--docker-socket", socket]), []);
  assert.ok((await writes(["--legacy", "--docker-socket", socket])).includes(socket));
  assert.ok(
    (await writes(["--no-compose-agent-enabled", "--docker-socket", socket])).includes(socket),
  );
});

Deno.test("V8 flags in the table are ones V8 knows, and every launch path passes them", async () => {
  const layout = { root: "/app", data: "/data", deno: "/usr/local/bin/deno" };
  let seen = 0;
  for (const [name, flags] of PERMISSIONS) {
    for (const flag of flags.filter((f) => f.startsWith("--v8-flags="))) {
      seen++;
      // Deno refuses to start on a flag V8 does not recognise.
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--quiet", flag, "Deno.exit(0)"],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.ok(out.success, `${name}: ${new TextDecoder().decode(out.stderr)}`);
      assert.ok(launchFlags({ name, args: [], env: {}, layout }).includes(flag), name);
    }
  }
  assert.ok(seen > 0, "the sidecar's heap flags are in the table");
  assert.ok(PERMISSIONS.get("sidecar")!.some((f) => f.startsWith("--v8-flags=")));
});

Deno.test("the audit service and the dashboard read of the checkout only its code (core/)", () => {
  // They load their router, schemas and YAML parser late from core/ (core/config's lateImport),
  // which needs read access to those modules; the rest of the checkout (config files, deploy/,
  // scripts/, .git) stays closed to the services that hold and show the audit trail.
  for (const name of ["audit", "dashboard"]) {
    const reads = grantsOf(PERMISSIONS.get(name)!, "read");
    assert.ok(Array.isArray(reads), name);
    assert.ok(!reads.includes("$ROOT"), `${name} reads the whole checkout`);
    assert.ok(reads.includes("$ROOT/core"), `${name} cannot load its late code`);
  }
});
