/**
 * The layout rules of docs/architecture.md, checked over every import of the tree: surfaces
 * (mod.ts, no `export *`), no deep imports, arrows pointing down the layers the page lists, no
 * cycles between modules or between the files of cmd/, the page naming every core module, and
 * heavy npm clients loaded only by the module that owns them (the NATS and database clients
 * only when a connection is made, so a service configured without them never loads them), and
 * packages a service needs only later (zod, yaml) kept out of what each service loads at start.
 * @module
 */
import assert from "node:assert/strict";
import { ROOT } from "./helpers.ts";
import {
  type ImportEdge,
  importGraph,
  type PackageImport,
  packageImports,
  sourceFiles,
  withoutComments,
} from "./support/imports.ts";

/** What the rules look at. */
interface Tree {
  /** Source files of main.ts, cmd/, core/, plugins/, scripts/ and tests/. */
  files: string[];
  edges: ImportEdge[];
  /** Folders that hold a mod.ts (`core/http`, `core/http/client`, ...). */
  modDirs: Set<string>;
  /** Folders directly under core/. */
  coreDirs: string[];
  /** Layer of each module, as docs/architecture.md lists it. */
  layers: Map<string, number>;
  /** Files (outside tests/) with an `export *` statement. */
  exportStar: string[];
  /** npm imports of main.ts, cmd/, core/ and plugins/ (what a service can load). */
  packages: Array<PackageImport & { from: string }>;
}

/**
 * npm packages confined to one folder: `lazy` ones (network clients, 10-30 MB each in an idle
 * process) are imported there only by `import()` inside the function that connects, and
 * elsewhere only with `import type`; the others may be imported there only (`owner` undefined:
 * nowhere a service loads from). A package with `via` files is imported by those files alone,
 * which nothing imports but by a computed specifier (`lateOnly`): a string-literal `import()`
 * of the package, or of a file that imports it, makes Deno read the package's registry data and
 * start its npm resolution when a service that reaches the importing file starts.
 */
const CONFINED: Array<{ pkg: RegExp; owner?: string; lazy: boolean; via?: string[] }> = [
  { pkg: /^@nats-io\//, owner: "core/nats/", lazy: true },
  {
    pkg: /^(postgres|redis)$/,
    owner: "core/engine/",
    lazy: true,
    via: ["core/engine/postgres_driver.ts", "core/engine/redis_driver.ts"],
  },
  { pkg: /^@cedar-policy\//, owner: "core/policy/", lazy: false },
  { pkg: /^(playwright-core|axe-core)$/, lazy: false },
];

/** The `postgres` client's source, vendored (core/engine/vendor/postgres/README.md). */
const VENDORED_POSTGRES = "core/engine/vendor/postgres/";

/** Why one npm import breaks the confinement rules, or undefined. */
function packageViolation(p: PackageImport & { from: string }): string | undefined {
  const rule = CONFINED.find((r) => r.pkg.test(p.pkg));
  if (!rule || p.kind === "type") return undefined;
  const inOwner = rule.owner !== undefined && p.from.startsWith(rule.owner);
  if (inOwner && rule.via) {
    return rule.via.includes(p.from)
      ? undefined
      : `imports ${p.pkg} (only ${rule.via.join(" or ")} may, loaded by a computed specifier)`;
  }
  if (!inOwner) {
    return `imports ${p.pkg} (${
      rule.owner ? `only ${rule.owner} may; ` : ""
    }import type elsewhere)`;
  }
  if (rule.lazy && p.kind === "static") {
    return `imports ${p.pkg} at start (import() it where the connection is made)`;
  }
  return undefined;
}

/**
 * What each service loads at start (its command file's static imports, followed through every
 * file they import statically) may not import these packages: zod (about 8 MB of an idle
 * process) and yaml (about 4 MB) load with the first request or the config file that needs them.
 * The relay and the sidecar need nothing of node:crypto (2-7 MB) but hashing and comparing,
 * which core/crypto does in JavaScript; the audit service and the dashboard load it with the
 * ledger's first signature. The audit service and the dashboard check their mesh-auth settings
 * at start (core/auth/mesh) and load their routes (the dashboard's login gate), and with them the
 * credential verifier (core/auth), with the first request their app serves. No service holds the exact JSON parser of core/http
 * (exact_json.ts) at start: `readExactJson` loads it with the first body it reads. main.ts
 * stands for what every command loads before its
 * own file. `deferred` files are what only some configurations use, imported when configured:
 * the relay's SQLite and JetStream stores, its `--workers` isolates and the replay store
 * (node:sqlite) of core/auth; the sidecar's SQLite flight-recorder store; the policy's intent schemas (zod) load with the first intent
 * (by a computed specifier: its start graph reaches no zod) and its decision state (node:sqlite)
 * with a relay,
 * it takes the audit and relay clients from their own modules, not the ledger's and relay's. The
 * dashboard checks the ledger's proofs with core/ledger/proof and streams with core/relay/stream,
 * loading neither the ledger (nor its SQLite) nor the relay. The relay, the audit service and the
 * dashboard serve `/health`, `/ready` and `/metrics` on the raw path and load Hono (about 1.5 MB)
 * with the first request that needs a route of their app (the dashboard its pages too). The
 * sidecar imports no `node:` module at start: the first one loads Deno's Node layer (3-4 MB of an
 * idle process). The sensor and action agents import no `node:` module but `node:sqlite` (their
 * state database) at start; the plugin runtime (yaml, zod manifests, node:crypto signatures, the
 * import audit), the action agent's executor, plugin catalog and JetStream queue, and the wire's
 * zod schemas load with the first plugin, instruction or message that needs them; neither loads the
 * other's agent code (core/agents/mod.ts imports each with its start).
 * Their start graph as Deno builds it, which follows every string-literal `import()`, reaches
 * neither zod nor es-module-lexer (`graphBanned`): Deno reads the registry data of each npm
 * package it reaches (about 2.8 MB of an idle agent for these two, zod's being large), so they
 * import such code by a computed specifier (`lateImport` of core/config). Nor does it reach the
 * NATS packages (their config takes the `nats` section's fields from core/nats/settings, not
 * core/nats, whose client imports them): reaching them cost an idle agent about 0.6-0.9 MB and
 * four of Deno's threads. Nor do they load core/auth (15 files; their `file:PATH` secrets and
 * plugin keys are read with core/auth/settings). So do the status and
 * compose agents for the command executor (core/docker/executor, zod and yaml), and the audit
 * service and the dashboard for their router (core/http/app.ts, the dashboard's pages: Hono),
 * their answers' schemas (zod) and the config file's parser (yaml): their start graph reaches
 * none of the three (about 2.5 MB of each idle service). The sidecar's start graph reaches no npm
 * package at all (`graphBanned`): the router (hono), the YAML parser, its manifest file's schemas
 * (zod) and, with `recorder_url`, the database clients (core/engine) load by a computed specifier.
 */
const STARTUP: Array<{ root: string; banned: RegExp; deferred?: string[]; graphBanned?: RegExp }> =
  [
    { root: "main.ts", banned: /^(zod|yaml)$/ },
    {
      root: "cmd/relay.ts",
      banned: /^(zod|yaml|node:crypto|node:sqlite|hono)$/,
      deferred: [
        "core/relay/sqlite_store.ts",
        "core/relay/jetstream_store.ts",
        "core/relay/cluster.ts",
        "core/auth/replay.ts",
        "core/http/exact_json.ts",
      ],
    },
    {
      root: "cmd/sidecar.ts",
      banned: /^(zod|yaml|node:.+)$/,
      deferred: [
        "core/recorder/sqlite_store.ts",
        "core/engine/mod.ts",
        "core/http/app.ts",
        "core/sidecar/proxy.ts",
        "core/http/client/mod.ts",
        "core/http/exact_json.ts",
      ],
      graphBanned: /^(?!node:)/,
    },
    {
      root: "cmd/audit.ts",
      banned: /^(zod|yaml|node:crypto|hono)$/,
      // No npm package at all (postgres and redis load with a postgres:// db, by loadDriver).
      graphBanned: /^(?!node:)/,
      // With a postgres:// db, `audit verify` or a relay_url only; its routes and with them the
      // credential verifier (core/auth: its settings are checked at start with core/auth/mesh)
      // with the first request its app serves; the HTTP client of the ledger serves others.
      deferred: [
        "core/ledger/pg_ledger.ts",
        "core/ledger/pg_verify.ts",
        "core/ledger/verify.ts",
        "core/ledger/monitor.ts",
        "core/relay/client/mod.ts",
        "core/ledger/routes.ts",
        "core/auth/mod.ts",
        "core/auth/bearer.ts",
        "core/ledger/client/mod.ts",
        "core/http/exact_json.ts",
        // Its settings read core/engine/settings; the clients load with a postgres:// db.
        "core/engine/mod.ts",
      ],
    },
    {
      root: "cmd/dashboard.ts",
      banned: /^(zod|yaml|node:crypto|node:sqlite|hono)$/,
      // Its browser files (about 170 KB of text) and the transaction trail load with the pages
      // (or through core/dashboard/on_demand.ts): about 1 MB of an idle dashboard. Its login
      // gate, and with it the credential verifier (core/auth: its settings are checked at start
      // with core/auth/mesh), with the first request its app serves.
      deferred: [
        "core/relay/mod.ts",
        "core/ledger/mod.ts",
        "core/http/exact_json.ts",
        "core/dashboard/static.ts",
        "core/dashboard/tx.ts",
        "core/dashboard/login.ts",
        "core/auth/mod.ts",
        "core/auth/bearer.ts",
        "core/auth/verify.ts",
        // The proofs with the ledger card's first check (only with audit_url); its start checks
        // audit_public_key with core/ledger/vkey.
        "core/ledger/proof/mod.ts",
        "core/ledger/proof/note.ts",
      ],
      graphBanned: /^(zod|yaml|hono)$/,
    },
    ...(["sensor", "action"] as const).map((kind) => ({
      root: `cmd/${kind}.ts`,
      banned: /^(zod|yaml|hono|es-module-lexer|node:(?!sqlite$).+)$/,
      deferred: [
        "core/plugin/mod.ts",
        "core/agents/executor.ts",
        "core/agents/queued_tasks.ts",
        "core/agents/wire_schema.ts",
        "core/relay/mod.ts",
        "core/ledger/mod.ts",
        // Their config declares the `nats` section from core/nats/settings; the client (whose
        // import() of the NATS packages Deno follows at start) loads with the task queue.
        "core/nats/mod.ts",
        // Their secrets, plugin keys and publisher names are read with core/auth/settings; the
        // verifier, signing and middleware of core/auth serve nothing of theirs.
        "core/auth/mod.ts",
        // Each agent's code loads with its start (core/agents/mod.ts), not the other's.
        kind === "sensor" ? "core/agents/action_agent.ts" : "core/agents/sensor_agent.ts",
        "core/http/exact_json.ts",
        // The action agent's plugin catalog loads with its first instruction (the sensor's
        // trigger loops use theirs from start).
        ...(kind === "action" ? ["core/agents/plugins.ts"] : []),
      ],
      graphBanned: /^(zod|es-module-lexer|@nats-io\/.+)$/,
    })),
    // What each agent's start loads late (core/agents/mod.ts imports it with its start): held
    // to the same rules, with what the agents do not load at start.
    ...(["sensor_agent", "action_agent"] as const).map((file) => ({
      root: `core/agents/${file}.ts`,
      banned: /^(zod|yaml|hono|es-module-lexer|node:.+)$/,
      deferred: [
        "core/plugin/mod.ts",
        "core/agents/executor.ts",
        "core/agents/queued_tasks.ts",
        "core/agents/wire_schema.ts",
        "core/relay/mod.ts",
        "core/ledger/mod.ts",
        "core/nats/mod.ts",
        "core/auth/mod.ts",
        // The orchestrator's and the audit service's clients load where they are configured.
        "core/agents/orchestrator.ts",
        "core/ledger/client/mod.ts",
        "core/http/exact_json.ts",
        ...(file === "action_agent" ? ["core/agents/plugins.ts"] : []),
      ],
      graphBanned: /^(zod|es-module-lexer|@nats-io\/.+)$/,
    })),
    {
      root: "cmd/status.ts",
      banned: /^(zod|yaml|node:crypto|node:sqlite|hono.*)$/,
      // As the compose agent: its start reads its keys and signing defaults from core/auth/agent,
      // and core/auth (the verifier, signing, mesh credentials) loads with its first command; the
      // relay's client only with a relay_url. It forwards commands with the command wire alone
      // (core/docker/wire): the Engine client and the watchdog load in legacy mode only.
      deferred: [
        "core/docker/executor/mod.ts",
        "core/docker/parse/mod.ts",
        "core/docker/mod.ts",
        "core/docker/engine.ts",
        "core/docker/watchdog.ts",
        "core/relay/mod.ts",
        "core/relay/client/mod.ts",
        "core/auth/mod.ts",
      ],
      // Hono's SSE helper by a computed specifier (core/hostagent/streaming.ts), with the routes.
      graphBanned: /^(zod|yaml|hono.*)$/,
    },
    {
      root: "cmd/compose_agent.ts",
      banned: /^(zod|yaml|node:crypto|node:os|node:fs|node:path|hono.*)$/,
      // The relay's client only with a relay_url (about 31 KB of source); core/auth (the
      // verifier, signing, mesh credentials) with the command API: the start reads its key and
      // defaults from core/auth/agent (about 1.3 MB of an idle agent).
      deferred: [
        "core/docker/executor/mod.ts",
        "core/relay/mod.ts",
        "core/relay/client/mod.ts",
        "core/auth/mod.ts",
      ],
      // Its graph reached hono through the status agent's routes (a string-literal import() of
      // hono/streaming): Deno read hono's registry data and started its npm resolution.
      graphBanned: /^(zod|yaml|hono.*)$/,
    },
    {
      root: "cmd/policy.ts",
      banned: /^(zod|yaml|node:crypto|node:sqlite)$/,
      deferred: [
        "core/policy/intent_schema.ts",
        "core/policy/shared_bridge.ts",
        // The decision loop's state store (node:sqlite) opens only with a relay and no queue.
        "core/policy/state.ts",
        "core/relay/mod.ts",
        "core/ledger/mod.ts",
        // Its decisions read their bodies with readExactJson, which loads the parser with the
        // first one.
        "core/http/exact_json.ts",
      ],
      // Its intent schemas' import by a string literal had Deno read zod's registry data at start.
      graphBanned: /^(zod|yaml)$/,
    },
  ];

/**
 * The files `root` loads at start: static, non-type imports followed transitively (with
 * `literalImports`, also the `import()`s of a string literal, which Deno follows building its
 * graph at start, without evaluating them).
 */
function loadedAtStart(root: string, edges: ImportEdge[], literalImports = false): Set<string> {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if ((e.dynamic && !literalImports) || e.typeOnly) continue;
    if (!next.has(e.from)) next.set(e.from, []);
    next.get(e.from)!.push(e.to);
  }
  const seen = new Set<string>();
  const stack = [root];
  while (stack.length > 0) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    stack.push(...next.get(f) ?? []);
  }
  return seen;
}

/** One line per banned package a service loads at start, naming the file that imports it. */
function startupViolations(t: Tree): string[] {
  const out: string[] = [];
  for (const { root, banned, deferred, graphBanned } of STARTUP) {
    const files = loadedAtStart(root, t.edges);
    const graph = graphBanned ? loadedAtStart(root, t.edges, true) : new Set<string>();
    for (const p of t.packages) {
      if (p.kind !== "type" && graphBanned?.test(p.pkg) && graph.has(p.from)) {
        out.push(
          `${p.from}: imports ${p.pkg}, which Deno reads the registry data of when ${root} ` +
            "starts (import it by a computed specifier)",
        );
      }
    }
    // A .tsx module imports the JSX runtime (hono/jsx) without naming it in its text.
    for (const f of graph) {
      if (graphBanned?.test("hono") && f.endsWith(".tsx")) {
        out.push(
          `${f}: a .tsx module, whose JSX runtime (hono) Deno reads the registry data of when ` +
            `${root} starts (a .ts file, or import it by a computed specifier)`,
        );
      }
    }
    for (const p of t.packages) {
      if (p.kind === "static" && banned.test(p.pkg) && files.has(p.from)) {
        out.push(`${p.from}: imports ${p.pkg}, which ${root} then loads at start (import() it)`);
      }
    }
    for (const f of deferred ?? []) {
      if (files.has(f)) {
        out.push(`${root} loads ${f} at start (import() it where it is configured)`);
      }
    }
  }
  return out;
}

const AREAS = ["cmd", "core", "plugins", "scripts", "tests"];

function areaOf(path: string): string {
  if (path === "main.ts") return "main";
  const top = path.split("/")[0];
  return AREAS.includes(top) ? top : "other";
}

/** The module a core file belongs to: its deepest folder with a mod.ts. */
function moduleOf(path: string, modDirs: Set<string>): string | undefined {
  let best: string | undefined;
  for (const d of modDirs) {
    if (path.startsWith(d + "/") && (!best || d.length > best.length)) best = d;
  }
  return best;
}

/** Strongly connected components with more than one node (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) !== idx.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      on.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1) out.push(scc.sort());
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

function addEdge(graph: Map<string, Set<string>>, a: string, b: string): void {
  if (!graph.has(a)) graph.set(a, new Set());
  if (!graph.has(b)) graph.set(b, new Set());
  if (a !== b) graph.get(a)!.add(b);
}

/** Why one import breaks a rule, or undefined when it keeps them. */
function edgeViolation(e: ImportEdge, t: Tree): string | undefined {
  const from = areaOf(e.from);
  const to = areaOf(e.to);
  const toMod = to === "core" ? moduleOf(e.to, t.modDirs) : undefined;
  const fromMod = from === "core" ? moduleOf(e.from, t.modDirs) : undefined;
  if (to === "core" && toMod !== fromMod && e.to !== `${toMod}/mod.ts`) {
    const ownTest = from === "tests" && toMod && e.from.startsWith(`tests/${toMod}/`);
    if (!ownTest) return `deep import of ${e.to} (import ${toMod}/mod.ts)`;
  }
  if (from === "core" && to !== "core" && !e.to.endsWith(".json")) {
    return `core imports ${to === "other" ? e.to : to + "/"}`;
  }
  if (from === "core" && fromMod && toMod && fromMod !== toMod) {
    const a = t.layers.get(fromMod);
    const b = t.layers.get(toMod);
    if (a !== undefined && b !== undefined && a <= b) {
      return `${fromMod} (layer ${a}) imports ${toMod} (layer ${b}): arrows point down`;
    }
  }
  if ((from === "cmd" || from === "main") && ["scripts", "tests"].includes(to)) {
    return `${from} imports ${to}/`;
  }
  if (from === "cmd" && to === "main") return "cmd imports main.ts";
  if (from === "plugins") {
    if (e.from === "plugins/sdk.ts") {
      if (e.to !== "core/plugin/mod.ts") return "plugins/sdk.ts re-exports only core/plugin";
    } else if (e.to !== "plugins/sdk.ts" && !sameFolder(e.from, e.to)) {
      return `a plugin imports ${e.to} (plugins import only plugins/sdk.ts)`;
    }
  }
  return undefined;
}

function sameFolder(a: string, b: string): boolean {
  const [, pa] = a.split("/");
  const [, pb] = b.split("/");
  return a.startsWith("plugins/") && b.startsWith("plugins/") && pa === pb;
}

/** Every rule broken in `t`, one line each. */
function violations(t: Tree): string[] {
  const out: string[] = [];
  for (const e of t.edges) {
    const why = edgeViolation(e, t);
    if (why) out.push(`${e.from}: ${why}`);
  }
  for (const f of t.exportStar) out.push(`${f}: export * (export names)`);
  const lateOnly = CONFINED.flatMap((r) => r.via ?? []);
  for (const e of t.edges) {
    if (lateOnly.includes(e.to) && !e.typeOnly && areaOf(e.from) !== "tests") {
      out.push(`${e.from}: imports ${e.to} (only by a computed specifier: loadDriver)`);
    }
  }
  for (const p of t.packages) {
    const why = packageViolation(p);
    if (why) out.push(`${p.from}: ${why}`);
  }
  for (const d of t.coreDirs) if (!t.modDirs.has(d)) out.push(`${d}: no mod.ts`);
  for (const f of t.files) {
    if (/^core\/[^/]+$/.test(f)) out.push(`${f}: a file outside every core module`);
  }
  for (const m of t.modDirs) {
    if (!t.layers.has(m)) out.push(`${m}: not listed in docs/architecture.md`);
  }
  for (const m of t.layers.keys()) {
    if (!t.modDirs.has(m)) out.push(`${m}: listed in docs/architecture.md but not in the tree`);
  }
  const modules = new Map<string, Set<string>>();
  const cmdFiles = new Map<string, Set<string>>();
  for (const e of t.edges) {
    const a = areaOf(e.from);
    const b = areaOf(e.to);
    if (a === "tests" || b === "tests" || b === "other") continue;
    const node = (p: string, area: string) => area === "core" ? moduleOf(p, t.modDirs) ?? p : area;
    addEdge(modules, node(e.from, a), node(e.to, b));
    if (a === "cmd" && b === "cmd") addEdge(cmdFiles, e.from, e.to);
  }
  for (const c of cycles(modules)) out.push(`import cycle between ${c.join(", ")}`);
  for (const c of cycles(cmdFiles)) out.push(`import cycle between ${c.join(", ")}`);
  out.push(...startupViolations(t));
  return out;
}

/** Module -> layer, from the table on docs/architecture.md. */
function layersOf(page: string): Map<string, number> {
  const layers = new Map<string, number>();
  for (const m of page.matchAll(/^\|\s*(\d+)\s*\|\s*`(core\/[a-z_/]+)`\s*\|/gm)) {
    layers.set(m[2], Number(m[1]));
  }
  return layers;
}

async function readTree(): Promise<Tree> {
  const files = await sourceFiles(ROOT, ["main.ts", ...AREAS]);
  const modDirs = new Set(
    files.filter((f) => f.startsWith("core/") && f.endsWith("/mod.ts")).map((f) =>
      f.slice(0, -"/mod.ts".length)
    ),
  );
  const coreDirs: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}core`)) {
    if (e.isDirectory) coreDirs.push(`core/${e.name}`);
  }
  const exportStar: string[] = [];
  const packages: Tree["packages"] = [];
  for (const f of files) {
    if (f.startsWith("tests/")) continue;
    const source = await Deno.readTextFile(`${ROOT}${f}`);
    if (/^\s*export\s*\*/m.test(withoutComments(source))) exportStar.push(f);
    if (f.startsWith("scripts/")) continue;
    for (const p of packageImports(source)) packages.push({ ...p, from: f });
  }
  const edges = await importGraph(ROOT, files);
  // The vendored postgres client is the package `postgres` to the rules: imported by path, it
  // stays confined as its npm copy was.
  for (const e of edges) {
    if (e.to.startsWith(VENDORED_POSTGRES) && !e.from.startsWith(VENDORED_POSTGRES)) {
      const kind = e.typeOnly ? "type" : e.dynamic ? "dynamic" : "static";
      packages.push({ pkg: "postgres", kind, from: e.from });
    }
  }
  return {
    files,
    edges,
    modDirs,
    coreDirs,
    layers: layersOf(await Deno.readTextFile(`${ROOT}docs/architecture.md`)),
    exportStar,
    packages,
  };
}

Deno.test("the tree keeps the layout rules of docs/architecture.md", async () => {
  const tree = await readTree();
  assert.ok(tree.edges.length > 500, `only ${tree.edges.length} imports found`);
  assert.ok(tree.layers.size >= 20, "docs/architecture.md lists the modules in a table");
  assert.ok(
    tree.packages.some((p) =>
      p.pkg === "postgres" && p.kind === "static" && p.from === "core/engine/postgres_driver.ts"
    ),
  );
  const relay = loadedAtStart("cmd/relay.ts", tree.edges);
  assert.ok(relay.has("core/config/file.ts") && relay.has("core/http/mod.ts"), "walks the graph");
  assert.ok(tree.edges.some((e) => e.to === "core/relay/sqlite_store.ts" && e.dynamic));
  assert.deepEqual(violations(tree), []);
});

/** A small tree that keeps every rule, for the tests that break one at a time. */
function sample(): Tree {
  const edge = (from: string, to: string): ImportEdge => ({
    from,
    to,
    typeOnly: false,
    dynamic: false,
  });
  return {
    files: ["main.ts", "cmd/a.ts", "core/low/mod.ts", "core/low/x.ts", "core/high/mod.ts"],
    edges: [
      edge("main.ts", "cmd/a.ts"),
      edge("cmd/a.ts", "core/high/mod.ts"),
      edge("core/high/mod.ts", "core/low/mod.ts"),
      edge("core/low/mod.ts", "core/low/x.ts"),
      edge("tests/core/low/x_test.ts", "core/low/x.ts"),
      edge("plugins/p/mod.ts", "plugins/sdk.ts"),
      edge("plugins/sdk.ts", "core/plugin/mod.ts"),
    ],
    modDirs: new Set(["core/low", "core/high", "core/plugin"]),
    coreDirs: ["core/low", "core/high", "core/plugin"],
    layers: new Map([["core/low", 0], ["core/high", 1], ["core/plugin", 1]]),
    exportStar: [],
    packages: [
      { from: "core/nats/client.ts", pkg: "@nats-io/jetstream", kind: "dynamic" },
      { from: "core/nats/client.ts", pkg: "@nats-io/jetstream", kind: "type" },
      { from: "core/relay/x.ts", pkg: "@nats-io/jetstream", kind: "type" },
      { from: "core/policy/x.ts", pkg: "@cedar-policy/cedar-wasm", kind: "static" },
      { from: "core/low/y.ts", pkg: "zod", kind: "static" },
    ],
  };
}

Deno.test("the rules catch deep imports, upward arrows, cycles and export *", () => {
  assert.deepEqual(violations(sample()), []);
  const broken = (change: (t: Tree) => void) => {
    const t = sample();
    change(t);
    return violations(t);
  };
  const e = (from: string, to: string) => ({ from, to, typeOnly: true, dynamic: false });
  assert.match(broken((t) => t.edges.push(e("cmd/a.ts", "core/low/x.ts")))[0], /deep import/);
  assert.match(broken((t) => t.edges.push(e("tests/e2e/y.ts", "core/low/x.ts")))[0], /deep/);
  assert.match(broken((t) => t.edges.push(e("core/low/x.ts", "core/high/mod.ts")))[0], /down/);
  assert.match(broken((t) => t.edges.push(e("core/low/x.ts", "cmd/a.ts")))[0], /core imports/);
  assert.match(broken((t) => t.edges.push(e("plugins/p/mod.ts", "core/low/mod.ts")))[0], /plug/);
  assert.match(broken((t) => t.exportStar.push("core/low/mod.ts"))[0], /export \*/);
  assert.match(broken((t) => t.coreDirs.push("core/bare"))[0], /no mod.ts/);
  assert.match(broken((t) => t.layers.delete("core/high"))[0], /not listed/);
  const cycle = broken((t) => {
    t.edges.push(e("cmd/b.ts", "cmd/a.ts"), e("cmd/a.ts", "cmd/b.ts"));
  });
  assert.deepEqual(cycle, ["import cycle between cmd/a.ts, cmd/b.ts"]);
  const pkg = (from: string, name: string, kind: PackageImport["kind"]) => (t: Tree) => {
    t.packages.push({ from, pkg: name, kind });
  };
  assert.match(broken(pkg("core/nats/connect.ts", "@nats-io/kv", "static"))[0], /at start/);
  assert.match(broken(pkg("core/engine/postgres.ts", "postgres", "static"))[0], /only core\/e/);
  assert.match(broken(pkg("core/engine/postgres.ts", "postgres", "dynamic"))[0], /computed/);
  assert.deepEqual(broken(pkg("core/engine/redis_driver.ts", "redis", "static")), []);
  const driverEdge = (kind: "static" | "dynamic" | "type") => (t: Tree) => {
    t.edges.push({
      from: "core/engine/postgres.ts",
      to: "core/engine/postgres_driver.ts",
      typeOnly: kind === "type",
      dynamic: kind === "dynamic",
    });
  };
  assert.match(broken(driverEdge("dynamic"))[0], /computed specifier/);
  assert.match(broken(driverEdge("static"))[0], /computed specifier/);
  assert.deepEqual(broken(driverEdge("type")), []);
  assert.match(broken(pkg("core/relay/x.ts", "@nats-io/jetstream", "static"))[0], /only core\/n/);
  assert.match(broken(pkg("core/relay/x.ts", "@nats-io/jetstream", "dynamic"))[0], /only core/);
  assert.match(broken(pkg("core/ledger/x.ts", "postgres", "static"))[0], /only core\/engine/);
  assert.match(broken(pkg("core/http/x.ts", "@cedar-policy/cedar-wasm", "static"))[0], /policy/);
  assert.match(broken(pkg("core/dashboard/x.ts", "playwright-core", "dynamic"))[0], /playwright/);
  const edge = (from: string, to: string, kind: "static" | "dynamic" | "type"): ImportEdge => ({
    from,
    to,
    typeOnly: kind === "type",
    dynamic: kind === "dynamic",
  });
  // cmd/relay.ts -> cmd/b.ts, which imports zod statically: loaded at start unless import()ed.
  const viaCmd = (kind: "static" | "dynamic" | "type") => (t: Tree) => {
    t.edges.push(edge("cmd/relay.ts", "cmd/b.ts", kind));
    t.packages.push({ from: "cmd/b.ts", pkg: "zod", kind: "static" });
  };
  assert.deepEqual(broken(viaCmd("static")), [
    "cmd/b.ts: imports zod, which cmd/relay.ts then loads at start (import() it)",
  ]);
  assert.deepEqual(broken(viaCmd("dynamic")), []);
  assert.deepEqual(broken(viaCmd("type")), []);
  // A file only some configurations use, reached by a static import from the relay's start.
  const store = (kind: "static" | "dynamic") => (t: Tree) => {
    t.edges.push(edge("cmd/relay.ts", "core/relay/on_demand.ts", "static"));
    t.edges.push(edge("core/relay/on_demand.ts", "core/relay/sqlite_store.ts", kind));
  };
  assert.deepEqual(broken(store("static")), [
    "cmd/relay.ts loads core/relay/sqlite_store.ts at start (import() it where it is configured)",
  ]);
  assert.deepEqual(broken(store("dynamic")), []);
  const toY = edge("core/low/mod.ts", "core/low/y.ts", "static");
  assert.match(broken((t) => t.edges.push(toY))[0], /y\.ts: imports zod, which main\.ts then/);
  const sideways = broken((t) => {
    t.layers.set("core/high", 0);
  });
  assert.match(sideways[0], /arrows point down/);
});

Deno.test("npm imports are read with their kind, from every form of import", () => {
  const text = [
    'import type { Sql } from "postgres";',
    "import {",
    "  connect,",
    "  type NatsConnection,",
    '} from "@nats-io/transport-node";',
    'export { z } from "zod";',
    'import "npm:yaml@2.9.1";',
    'const pg = await import("npm:/postgres@3.4.9/types");',
    '// import { x } from "redis";',
    'import { helper } from "./local.ts";',
    'import { parseArgs } from "node:util";',
    'export const a = Array.from("redis");',
  ].join("\n");
  assert.deepEqual(packageImports(text), [
    { pkg: "postgres", kind: "type" },
    { pkg: "@nats-io/transport-node", kind: "static" },
    { pkg: "zod", kind: "static" },
    { pkg: "node:util", kind: "static" },
    { pkg: "yaml", kind: "static" },
    { pkg: "postgres", kind: "dynamic" },
  ]);
});
