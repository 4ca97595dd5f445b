import assert from "node:assert/strict";
import { command, start } from "../../cmd/audit.ts";
import { silentLogger } from "../../core/log/mod.ts";
import { generateIssuer } from "../../core/auth/mod.ts";
import { generateKeyPair } from "../../core/crypto/mod.ts";
import { formatVkey, signNote } from "../../core/ledger/proof/mod.ts";
import { exchange, json } from "../support/raw_http.ts";
import { listeningUrl, ROOT, runIatp, spawnChild, tempDir, waitFor } from "../helpers.ts";
import { fixtureLedger, tamper, TAMPERS } from "../core/ledger/tamper_helpers.ts";
import {
  fromHex,
  refCheckConsistency,
  refOpenCheckpoint,
  refVerifyReceipt,
} from "../core/ledger/rfc6962_reference.ts";

async function withAudit(fn: (url: string, dir: string) => Promise<void>) {
  const dir = await tempDir("iatp-audit-");
  // The iatp contract (201, 400, payload default); compat upstream is tests/interop/igs_test.ts.
  const svc = await start(
    command.resolve({ port: 0, db: `${dir.path}/audit.db`, compat: "iatp" }),
    {
      log: silentLogger,
    },
  );
  try {
    await fn(svc.url, dir.path);
  } finally {
    await svc.close();
    await dir.remove();
  }
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/audit`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

Deno.test("POST /audit answers 201 with a receipt the RFC 6962 test verifier accepts", async () => {
  await withAudit(async (url) => {
    const key =
      (await (await fetch(`${url}/checkpoint`, { headers: { accept: "application/json" } })).json())
        .vkey;
    const acks = await Promise.all(
      Array.from(
        { length: 25 },
        (_, i) =>
          post(url, {
            tx_id: `tx-${i % 5}`,
            event: "access.decision",
            actor: "policy",
            payload: { i },
          }),
      ),
    );
    for (const a of acks) assert.equal(a.status, 201);
    const tx = await (await fetch(`${url}/tx/tx-3`)).json();
    assert.equal(tx.entries.length, 5);
    for (const e of tx.entries) {
      assert.ok(await refVerifyReceipt(e, e.receipt, key), `entry ${e.index}`);
    }
    const byIndex = await (await fetch(`${url}/entries/${acks[0].body.index}`)).json();
    assert.deepEqual(byIndex.receipt, acks[0].body.receipt);
    const note = await (await fetch(`${url}/checkpoint`)).text();
    const cp = await refOpenCheckpoint(note, key);
    assert.equal(cp?.size, 25);
    const inc = await (await fetch(`${url}/proof/inclusion?index=7&tree_size=19`)).json();
    assert.equal(inc.inclusion_proof.length, 5);
    for (const [m, n] of [[1, 25], [7, 19], [16, 25], [24, 25], [25, 25]]) {
      const c = await (await fetch(`${url}/proof/consistency?first=${m}&second=${n}`)).json();
      assert.ok(
        refCheckConsistency(
          m,
          n,
          fromHex(c.first_root),
          fromHex(c.second_root),
          c.consistency_proof.map(fromHex),
        ),
      );
    }
  });
});

Deno.test("bad requests get 4xx JSON, never 500", async () => {
  await withAudit(async (url) => {
    assert.equal((await post(url, "{not json")).status, 400);
    const missing = await post(url, { tx_id: 5 });
    assert.equal(missing.status, 400);
    assert.ok(missing.body.issues.some((i: { path: string }) => i.path === "tx_id"));
    assert.equal(
      (await post(url, { tx_id: "t", event: "e", actor: "a", payload: [1] })).status,
      400,
    );
    const ok = await post(url, { tx_id: "t", event: "e", actor: "a", payload: { a: 1 } }, {
      "idempotency-key": "k",
    });
    const again = await post(url, { tx_id: "t", event: "e", actor: "a", payload: { a: 1 } }, {
      "idempotency-key": "k",
    });
    assert.deepEqual(again.body, ok.body);
    assert.equal(
      (await post(url, { tx_id: "t", event: "e", actor: "a", payload: { a: 2 } }, {
        "idempotency-key": "k",
      })).status,
      409,
    );
    for (
      const path of [
        "/entries/x",
        "/entries/-1",
        "/proof/inclusion?index=5",
        "/proof/inclusion",
        "/proof/consistency?first=0",
        "/proof/consistency?first=2&second=1",
      ]
    ) {
      const r = await fetch(url + path);
      assert.equal(r.status, 400, path);
      assert.ok((await r.json()).error);
    }
    const r404 = await fetch(`${url}/entries/99`);
    assert.equal(r404.status, 404);
    await r404.body?.cancel();
    const empty = await (await fetch(`${url}/tx/unknown`)).json();
    assert.deepEqual(empty.entries, []);
  });
});

Deno.test("a proof parameter given twice and an Idempotency-Key beyond printable ASCII are 400", async () => {
  await withAudit(async (url) => {
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await post(url, { tx_id: "t", event: "e", actor: "a", payload: { i } })).status,
        201,
      );
    }
    for (
      const [path, param] of [
        ["/proof/inclusion?index=0&index=1&tree_size=3", "index"],
        ["/proof/inclusion?index=0&tree_size=2&tree_size=3", "tree_size"],
        ["/proof/consistency?first=1&first=2&second=3", "first"],
        ["/proof/consistency?first=1&second=3&second=2", "second"],
      ]
    ) {
      const r = await fetch(url + path);
      assert.equal(r.status, 400, path);
      const body = await r.json();
      assert.equal(body.param, param, path);
      assert.match(body.error, /given more than once/);
    }
    const entry = JSON.stringify({ tx_id: "t", event: "e", actor: "a", payload: { a: 1 } });
    const port = Number(new URL(url).port);
    // Sent as bytes: the UTF-8 of "café", a tab, 257 characters, nothing (a control character
    // other than a tab is refused by the HTTP edge already).
    for (const key of ["caf\u00c3\u00a9", "a\tb", "x".repeat(257), ""]) {
      const r = await exchange(
        port,
        `POST /audit HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n` +
          `idempotency-key: ${key}\r\ncontent-length: ${entry.length}\r\nconnection: close\r\n\r\n${entry}`,
      );
      assert.equal(r?.status, 400, JSON.stringify(key));
      assert.match(
        String(json(r!).error),
        /Idempotency-Key must be 1 to 256 printable ASCII characters/,
      );
    }
    const ok = await post(url, JSON.parse(entry), { "idempotency-key": "k " + "~".repeat(254) });
    assert.equal(ok.status, 201);
  });
});

Deno.test("an index of more digits than the ledger reads is a 400 saying so, not that it is no integer", async () => {
  await withAudit(async (url) => {
    for (
      const [path, param] of [
        ["/entries/9007199254740992", "index"],
        ["/proof/inclusion?index=9007199254740992", "index"],
        ["/proof/inclusion?index=0&tree_size=99999999999999999999", "tree_size"],
        ["/proof/consistency?first=1&second=9007199254740993", "second"],
      ]
    ) {
      const r = await fetch(url + path);
      assert.equal(r.status, 400, path);
      const body = await r.json();
      assert.equal(body.param, param, path);
      assert.match(body.error, /at most 15 digits/, path);
    }
    const past = await fetch(`${url}/entries/999999999999999`);
    assert.equal(past.status, 404);
    await past.body?.cancel();
  });
});

Deno.test("iatp audit verify --db exits 0 on a good log and 1 naming the first bad index", async () => {
  const t = await fixtureLedger();
  try {
    const env = { IATP_DATA_DIR: t.dir.path };
    const good = await runIatp(["audit", "verify", "--db", t.path], { env });
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /ok: 40 entries/);
    for (const tc of TAMPERS.slice(0, 3)) { // modify, delete, reorder
      const copy = `${t.dir.path}/${tc.badIndex}.db`;
      await Deno.copyFile(t.path, copy);
      tamper(copy, tc.apply);
      const r = await runIatp(["audit", "verify", "--db", copy], { env });
      assert.equal(r.code, 1, `${tc.name}: ${r.stdout} ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`first bad index ${tc.badIndex}:`), tc.name);
    }
    const usage = await runIatp(["audit", "verify"], { env });
    assert.equal(usage.code, 2);
  } finally {
    await t.dir.remove();
  }
});

Deno.test("iatp audit verify --url checks the signature and consistency with the last checkpoint", async () => {
  await withAudit(async (url, dir) => {
    const env = { IATP_DATA_DIR: dir };
    for (let i = 0; i < 3; i++) await post(url, { tx_id: `t${i}`, event: "e", actor: "a" });
    const first = await runIatp(["audit", "verify", "--url", url], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /checkpoint 3 .*first check/);
    for (let i = 0; i < 4; i++) await post(url, { tx_id: `u${i}`, event: "e", actor: "a" });
    const second = await runIatp(["audit", "verify", "--url", url], { env });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /checkpoint 7 .*consistent with 3/);
    // A monitor that once saw a bigger tree must flag this log as rolled back.
    const stateFile = `${dir}/audit-monitor.json`;
    const state = JSON.parse(await Deno.readTextFile(stateFile));
    const key = Object.keys(state)[0];
    state[key].tree_size = 50;
    await Deno.writeTextFile(stateFile, JSON.stringify(state));
    const rolled = await runIatp(["audit", "verify", "--url", url], { env });
    assert.equal(rolled.code, 1);
    assert.match(rolled.stderr, /shrank from 50 to 7/);
  });
});

Deno.test("iatp audit verify --url never shows or keeps the password its URL carries", async () => {
  await withAudit(async (url, dir) => {
    const env = { IATP_DATA_DIR: dir };
    const secret = "s3cret-pw-7781";
    const withPw = url.replace("://", `://monitor:${secret}@`);
    const ok = await runIatp(["audit", "verify", "--url", withPw], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /monitor@127\.0\.0\.1/);
    const state = await Deno.readTextFile(`${dir}/audit-monitor.json`);
    const missing = await runIatp(["audit", "verify", "--url", `${withPw}/elsewhere`], { env });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /answered 404/);
    const refused = await runIatp(["audit", "verify", "--url", withPw.replace(/:\d+/, ":1")], {
      env,
    });
    assert.equal(refused.code, 1);
    for (const text of [ok.stdout, ok.stderr, state, missing.stderr, refused.stderr]) {
      assert.ok(!text.includes(secret), text);
    }
    // The state kept without the password still serves the next check.
    const again = await runIatp(["audit", "verify", "--url", withPw], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /consistent with 0|checkpoint 0/);
  });
});

Deno.test("iatp audit verify names the setting (exit 2) for a --db folder or a --state-file that is not one", async () => {
  await withAudit(async (url, dir) => {
    const env = { IATP_DATA_DIR: dir };
    const folder = await runIatp(["audit", "verify", "--db", dir], { env });
    assert.equal(folder.code, 2, folder.stderr);
    assert.match(folder.stderr, /config error: db \(flag --db\): expected an existing ledger file/);
    const stateFile = `${dir}/state.json`;
    for (
      const text of [
        "{garbage",
        "[1]",
        JSON.stringify({ [url]: { tree_size: 1.5, root_hash: "00" } }),
        JSON.stringify({ [url]: 7 }),
      ]
    ) {
      await Deno.writeTextFile(stateFile, text);
      const r = await runIatp(["audit", "verify", "--url", url, "--state-file", stateFile], {
        env,
      });
      assert.equal(r.code, 2, `${text}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /config error: state_file \(flag --state-file\): expected a state file/,
      );
      assert.equal(await Deno.readTextFile(stateFile), text);
    }
  });
});

Deno.test("iatp audit verify: a --state-file that is a credential or a pipe is exit 2 naming it, its content never printed, never a hang", async () => {
  await withAudit(async (url, dir) => {
    const env = { IATP_DATA_DIR: dir, IATP_FILE_READ_TIMEOUT: "300ms" };
    // A state file mixed up with a credential: what it holds must not reach the error.
    const token = `${dir}/relay.token`;
    for (const text of ["iatp1.SECRETSECRETSECRET", '{"a": SECRETSECRET}', "SECRET"]) {
      await Deno.writeTextFile(token, text);
      const r = await runIatp(["audit", "verify", "--url", url, "--state-file", token], { env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /config error: state_file \(flag --state-file\): .*not JSON/);
      assert.doesNotMatch(r.stderr + r.stdout, /SECRET/);
    }
    // A pipe with no writer is read within IATP_FILE_READ_TIMEOUT, as every file a setting names.
    const fifo = `${dir}/state.fifo`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.equal(made.code, 0);
    const r = await runIatp(["audit", "verify", "--url", url, "--state-file", fifo], {
      env,
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /config error: state_file \(flag --state-file\): .*no data arrived/);
  });
});

Deno.test("an origin no signed note can carry, or another than the log's, is refused at start (exit 2 naming origin); others sign checkpoints that verify", async () => {
  const dir = await tempDir("iatp-audit-");
  try {
    const env = { IATP_DATA_DIR: dir.path };
    const db = `${dir.path}/audit.db`;
    for (const origin of ["a b", "log\nsize", "a+b", "tab\there"]) {
      const r = await runIatp(["audit", "--port", "0", "--db", db, "--origin", origin], { env });
      assert.equal(r.code, 2, `${JSON.stringify(origin)}: ${r.stderr}`);
      assert.match(
        r.stderr,
        /config error: origin \(flag --origin\): expected a checkpoint origin/,
      );
    }
    assert.equal(await Deno.lstat(db).then(() => true, () => false), false);
    const svc = await start(
      command.resolve({ port: 0, db, compat: "iatp", origin: "example.org/ledger-ü" }),
      { log: silentLogger },
    );
    try {
      assert.equal((await post(svc.url, { tx_id: "t", event: "e", actor: "a" })).status, 201);
    } finally {
      await svc.close();
    }
    const ok = await runIatp(["audit", "verify", "--db", db], { env });
    assert.equal(ok.code, 0, ok.stderr);
    // The origin is fixed at the first start: another one later is a usage mistake.
    const other = await runIatp(["audit", "--port", "0", "--db", db, "--origin", "other"], { env });
    assert.equal(other.code, 2, other.stderr);
    assert.match(
      other.stderr,
      /config error: origin \(flag --origin\): expected the log's origin, fixed at its first start \("example\.org\/ledger-ü"\)/,
    );
  } finally {
    await dir.remove();
  }
});

Deno.test("iatp audit verify --url shows what a hostile log serves escaped and cut, never as terminal control", async () => {
  const dir = await tempDir("iatp-audit-");
  const escape = "\x1b]0;owned\x07\x1b[2J";
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const mode = new URL(req.url).pathname.split("/")[1];
    if (mode === "key") {
      return Response.json({ vkey: escape + "x".repeat(2_000), checkpoint: "x" });
    }
    return new Response(`${escape}ok: all good\n`, { status: 500 });
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    for (const mode of ["key", "answer"]) {
      const r = await runIatp([
        "audit",
        "verify",
        "--url",
        `${base}/${mode}`,
        "--state-file",
        `${dir.path}/state.json`,
      ]);
      assert.equal(r.code, 1, r.stderr);
      // deno-lint-ignore no-control-regex
      assert.ok(!/[\x00-\x09\x0b-\x1f\x7f]/.test(r.stderr), JSON.stringify(r.stderr));
      assert.match(r.stderr, /\\u001b\]0;owned/);
      assert.ok(r.stderr.length < 1000, `${r.stderr.length} chars`);
    }
  } finally {
    await server.shutdown();
    await dir.remove();
  }
});

/** POSTs raw bytes to /audit. */
async function postBytes(url: string, body: Uint8Array<ArrayBuffer>) {
  const res = await fetch(`${url}/audit`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  return { status: res.status, body: await res.json() };
}

Deno.test("values the ledger cannot store exactly are refused by field, never signed", async () => {
  await withAudit(async (url) => {
    const enc = new TextEncoder();
    const entry = (payload: string) => `{"tx_id":"x","event":"e","actor":"a","payload":${payload}}`;
    const cases: Array<[Uint8Array<ArrayBuffer>, string]> = [
      [
        enc.encode('{"__proto__":{"admin":true},"tx_id":"x","event":"e","actor":"a"}'),
        "$.__proto__",
      ],
      [enc.encode(entry('{"n":9007199254740993}')), "$.payload.n"],
      [enc.encode(entry('{"n":1e400}')), "$.payload.n"],
      [enc.encode(entry('{"s":"\\ud800"}')), "$.payload.s"],
      [enc.encode(entry('{"a":1,"a":2}')), "$.payload.a"],
      [
        enc.encode(entry(`{"deep":${"[".repeat(70)}${"]".repeat(70)}}`)),
        "$.payload.deep" + "[0]".repeat(62),
      ],
      [
        new Uint8Array([...enc.encode(entry('{"note":"caf')), 0xe9, ...enc.encode('"}}')]),
        "$.payload.note",
      ],
    ];
    for (const [body, field] of cases) {
      const r = await postBytes(url, body);
      assert.equal(r.status, 400, field);
      assert.equal(r.body.field, field);
      assert.ok(r.body.request_id, "the JSON envelope");
    }
    const extra = await post(url, { tx_id: "x", event: "e", actor: "a", extra: 1 });
    assert.equal(extra.status, 400, "a member the entry has no place for is refused, not dropped");
    const size = (await (await fetch(`${url}/checkpoint`, {
      headers: { accept: "application/json" },
    })).json()).tree_size;
    assert.equal(size, 0, "nothing was signed");
    // The same number in another spelling is the same value: stored in canonical form.
    const same = await postBytes(url, enc.encode(entry('{"one":1.0,"zero":-0,"tenth":0.1}')));
    assert.equal(same.status, 201);
    const stored = await (await fetch(`${url}/entries/${same.body.index}`)).json();
    assert.deepEqual(stored.payload, { one: 1, zero: 0, tenth: 0.1 });
  });
});

Deno.test("a truncated or malformed body is a 400 with the envelope, never a 500", async () => {
  await withAudit(async (url) => {
    const u = new URL(url);
    const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    const head = `POST /audit HTTP/1.1\r\nhost: ${u.host}\r\ncontent-type: application/json\r\n` +
      'content-length: 100\r\n\r\n{"tx';
    await conn.write(new TextEncoder().encode(head));
    await conn.closeWrite();
    const chunks: number[] = [];
    const buf = new Uint8Array(4096);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      chunks.push(...buf.subarray(0, n));
    }
    conn.close();
    const text = new TextDecoder().decode(new Uint8Array(chunks));
    assert.match(text, /^HTTP\/1\.1 400 /, text);
    assert.match(text, /"request_id"/);
    for (const body of ["", "{", "[1,2]", '"s"', "null", '{"tx_id":"t"']) {
      assert.equal((await post(url, body)).status, 400, JSON.stringify(body));
    }
  });
});

Deno.test("routes that cannot load answer 503 with the envelope and let no append through", async () => {
  // The routes, and with them the credential verifier, load with the first request the app
  // serves; here reading their module is denied, so that load fails.
  const dir = await tempDir("iatp-audit-");
  const db = `${dir.path}/audit.db`;
  const issuer = await generateIssuer();
  const child = spawnChild(Deno.execPath(), [
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    `--allow-write=${dir.path}`,
    `--deny-read=${ROOT}core/ledger/routes.ts`,
    `${ROOT}cmd/audit.ts`,
    "--port",
    "0",
    "--db",
    db,
    "--auth-keys",
    issuer.publicKey,
  ]);
  try {
    let url: string | undefined;
    await waitFor(() => (url = listeningUrl(child.stdout())) !== undefined, 30_000, "listening");
    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 200, "the raw path serves without the routes");
    await health.body?.cancel();
    for (let i = 0; i < 2; i++) {
      // Neither let through unchecked nor refused as if checked: a clear 503, every time.
      const res = await post(url!, { tx_id: "t", event: "e", actor: "a", payload: {} });
      assert.equal(res.status, 503);
      assert.equal(res.body.error, "the audit routes could not be loaded");
      assert.ok(res.body.request_id, "the JSON envelope");
    }
    const read = await fetch(`${url}/checkpoint`);
    assert.equal(read.status, 503);
    await read.body?.cancel();
    // An operator sees it on /health: degraded, naming the routes (they need a restart).
    const after = await (await fetch(`${url}/health`)).json();
    assert.equal(after.status, "degraded");
    assert.equal(after.reason, "routes: the audit routes could not be loaded");
    assert.deepEqual(after.components.routes, {
      ok: false,
      reason: "the audit routes could not be loaded",
    });
  } finally {
    await child.stop();
  }
  // Nothing was appended: the same ledger, opened with its routes, is empty.
  const svc = await start(command.resolve({ port: 0, db, compat: "iatp" }), { log: silentLogger });
  try {
    const cp = await (await fetch(`${svc.url}/checkpoint`, {
      headers: { accept: "application/json" },
    })).json();
    assert.equal(cp.tree_size, 0);
  } finally {
    await svc.close();
    await dir.remove();
  }
});

Deno.test("iatp audit verify --receipt checks an entry's receipt offline with only the log's vkey", async () => {
  await withAudit(async (url, dir) => {
    const env = { IATP_DATA_DIR: dir };
    for (let i = 0; i < 5; i++) {
      await post(url, { tx_id: `t${i}`, event: "e", actor: "a", payload: { i } });
    }
    const entry = await (await fetch(`${url}/entries/3`)).json();
    const { vkey } = await (await fetch(`${url}/checkpoint`, {
      headers: { accept: "application/json" },
    })).json();
    const file = `${dir}/entry3.json`;
    await Deno.writeTextFile(file, JSON.stringify(entry));
    const ok = await runIatp(["audit", "verify", "--receipt", file, "--vkey", vkey], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^ok: entry 3 is in checkpoint 4 root [0-9a-f]{64} of iatp-audit\//);

    const forged = `${dir}/forged.json`;
    await Deno.writeTextFile(forged, JSON.stringify({ ...entry, payload: { i: 4 } }));
    const bad = await runIatp(["audit", "verify", "--receipt", forged, "--vkey", vkey], { env });
    assert.equal(bad.code, 1, bad.stdout);
    assert.match(bad.stderr, /verify failed: entry 3: inclusion proof does not lead to root_hash/);

    // Another log's key (a valid vkey under the same name) does not verify it.
    const other = await generateKeyPair();
    const foreign = formatVkey(vkey.split("+")[0], other.publicRaw);
    const wrong = await runIatp(["audit", "verify", "--receipt", file, "--vkey", foreign], { env });
    assert.equal(wrong.code, 1, wrong.stdout);
    assert.match(wrong.stderr, /checkpoint signature does not verify with the given key/);

    const keyless = await runIatp(["audit", "verify", "--receipt", file], { env });
    assert.equal(keyless.code, 2);
    assert.match(keyless.stderr, /vkey/);
    const notJson = `${dir}/audit.db.key`;
    const wrongFile = await runIatp(["audit", "verify", "--receipt", notJson, "--vkey", vkey], {
      env,
    });
    assert.equal(wrongFile.code, 2);
    assert.match(wrongFile.stderr, /receipt .*not JSON/);
  });
});

Deno.test("a service started on a ledger changed outside it answers 500 saying so for the changed entry, and turns degraded", async () => {
  const t = await fixtureLedger();
  const seed = `${t.dir.path}/audit.db.key`;
  // The fixture's key pair, as the key file the service reads.
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", t.key.privateKey));
  await Deno.writeTextFile(seed, btoa(String.fromCharCode(...pkcs8.slice(-32))));
  tamper(t.path, TAMPERS[0].apply); // entry 17's payload changed
  const svc = await start(
    command.resolve({ port: 0, db: t.path, compat: "iatp", key_file: seed }),
    { log: silentLogger },
  );
  try {
    const before = await (await fetch(`${svc.url}/health`)).json();
    assert.equal(before.status, "ok");
    for (const path of ["/entries/17", "/tx/tx-17"]) {
      const res = await fetch(`${svc.url}${path}`);
      assert.equal(res.status, 500, path);
      const body = await res.json();
      assert.match(body.error, /entry 17 does not match its leaf hash: the store was changed/);
    }
    const health = await (await fetch(`${svc.url}/health`)).json();
    assert.equal(health.status, "degraded");
    assert.equal(health.components.store.ok, false);
    assert.match(health.reason, /^store: entry 17 does not match its leaf hash/);
    assert.equal((await fetch(`${svc.url}/entries/16`)).status, 200);
  } finally {
    await svc.close();
    await t.dir.remove();
  }
});

Deno.test("iatp audit verify --db says when it checked with the key the log itself names; a log re-signed with another key fails with --vkey", async () => {
  const t = await fixtureLedger();
  try {
    const env = { IATP_DATA_DIR: t.dir.path };
    const real = formatVkey(
      (await runIatp(["audit", "verify", "--db", t.path], { env })).stdout
        .match(/not pinned: ([^+]+)\+/)![1],
      t.key.publicRaw,
    );
    // An insider without the log's key re-signs every checkpoint with a key of their own.
    const mine = await generateKeyPair();
    const rows: Array<{ tree_size: number; note: string }> = [];
    let origin = "";
    tamper(t.path, (db) => {
      origin = (db.prepare("SELECT value FROM meta WHERE key = 'origin'").get() as {
        value: string;
      }).value;
      rows.push(...db.prepare("SELECT tree_size, note FROM checkpoints").all() as typeof rows);
      db.prepare("UPDATE meta SET value = ? WHERE key = 'vkey'")
        .run(formatVkey(origin, mine.publicRaw));
      for (const r of rows) r.note = r.note.slice(0, r.note.indexOf("\n\n") + 1);
    });
    for (const r of rows) {
      r.note = await signNote(r.note, { name: origin, ...mine });
    }
    tamper(t.path, (db) => {
      for (const r of rows) {
        db.prepare("UPDATE checkpoints SET note = ? WHERE tree_size = ?").run(r.note, r.tree_size);
      }
    });
    const unpinned = await runIatp(["audit", "verify", "--db", t.path], { env });
    assert.equal(unpinned.code, 0, unpinned.stderr);
    assert.match(
      unpinned.stdout,
      new RegExp(`not pinned: ${formatVkey(origin, mine.publicRaw).replace(/[+/]/g, "\\$&")};`),
    );
    const pinned = await runIatp(["audit", "verify", "--db", t.path, "--vkey", real], { env });
    assert.equal(pinned.code, 1, pinned.stdout);
    assert.match(pinned.stderr, /log claims key .*, expected /);
  } finally {
    await t.dir.remove();
  }
});

Deno.test("names: tx ids differing by normalization or case are two transactions; names are kept as sent", async () => {
  await withAudit(async (url) => {
    const ids = ["caf\u00e9", "cafe\u0301", "CAF\u00c9", "caf\u00e9\u200b"];
    const actor = "al\u202eice\n\u001b[2K";
    for (const tx_id of ids) {
      assert.equal((await post(url, { tx_id, event: "e\u0000", actor, payload: {} })).status, 201);
    }
    for (const tx_id of ids) {
      const got = await (await fetch(`${url}/tx/${encodeURIComponent(tx_id)}`)).json();
      assert.equal(got.entries.length, 1, JSON.stringify(tx_id));
      assert.equal(got.entries[0].tx_id, tx_id);
      assert.equal(got.entries[0].actor, actor);
      assert.equal(got.entries[0].event, "e\u0000");
    }
    const lone = await post(url, '{"tx_id":"t","event":"e","actor":"a\\ud800","payload":{}}');
    assert.equal(lone.status, 400);
    assert.equal(lone.body.field, "$.actor");
  });
});
