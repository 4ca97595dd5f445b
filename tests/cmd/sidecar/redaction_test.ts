/**
 * Key-based redaction of the request payload everywhere a trace goes: `GET /trace`, the
 * SQLite and JSONL recorder files, the relay's `iatp.trace` topic and the audit ledger.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { command as auditCommand } from "../../../cmd/audit.ts";
import { command as relayCommand } from "../../../cmd/relay.ts";
import { silentLogger } from "../../../core/log/mod.ts";
import { RelayClient, type RelayEvent } from "../../../core/relay/mod.ts";
import { tempDir, waitFor } from "../../helpers.ts";
import { post, startAgent, startSidecar } from "./fixtures.ts";

/** A body whose secrets sit under every spelling the key rule covers. */
const BODY = {
  user: "ann",
  password: "pw-hunter2",
  api_key: "ak-0001",
  apiKey: "ak-0002",
  Token: "tk-0003",
  nested: { deeper: [{ Authorization: "Bearer zz-0004", ok: "kept" }] },
  credentials: { password: "pw-0005", anything: "cr-0006" },
  credentials_extra: { client_id: "cr-0007" },
  session_id: 90012345,
  secret: null,
};
const SECRETS = [
  "hunter2",
  "ak-0001",
  "ak-0002",
  "tk-0003",
  "zz-0004",
  "pw-0005",
  "cr-0006",
  "cr-0007",
  "90012345",
];

function assertClean(where: string, text: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${s} in ${where}: ${text.slice(0, 400)}`);
}

function expectedPayload() {
  return {
    user: "ann",
    password: "[REDACTED]",
    api_key: "[REDACTED]",
    apiKey: "[REDACTED]",
    Token: "[REDACTED]",
    nested: { deeper: [{ Authorization: "[REDACTED]", ok: "kept" }] },
    credentials: "[REDACTED]",
    credentials_extra: "[REDACTED]",
    session_id: "[REDACTED]",
    secret: null,
  };
}

Deno.test("secret members are redacted in /trace and in SQLite and JSONL recorder files", async () => {
  const dir = await tempDir();
  const agent = startAgent();
  const db = `${dir.path}/rec.db`;
  const jsonl = `${dir.path}/rec.jsonl`;
  const a = await startSidecar({ agent_url: agent.url, recorder_file: db });
  const b = await startSidecar({ agent_url: agent.url, recorder_file: jsonl });
  try {
    for (const sc of [a, b]) {
      const r = await post(sc.url, BODY, { "X-Agent-Trace-ID": "keys-1" });
      assert.equal(r.status, 200);
      assert.equal(
        JSON.parse(agent.received.at(-1)!.body).password,
        "pw-hunter2",
        "forwarded intact",
      );
      const t = await (await fetch(`${sc.url}/trace/keys-1`)).json();
      assertClean("/trace", JSON.stringify(t));
      assert.deepEqual(JSON.parse(t.records[0].details.payload), expectedPayload());
    }
  } finally {
    await a.close();
    await b.close();
    await agent.close();
  }
  try {
    const sqlite = new DatabaseSync(db);
    const rows = sqlite.prepare("SELECT details FROM trace_records").all() as Array<
      { details: string }
    >;
    sqlite.close();
    assert.ok(rows.length >= 2);
    assertClean("SQLite recorder", rows.map((r) => r.details).join("\n"));
    const lines = await Deno.readTextFile(jsonl);
    assert.ok(lines.includes('"payload"'));
    assertClean("JSONL recorder", lines);
  } finally {
    await dir.remove();
  }
});

Deno.test("secret members never reach the relay's iatp.trace topic or the ledger", async () => {
  const dir = await tempDir();
  const agent = startAgent();
  const relay = await relayCommand.start(relayCommand.resolve({ port: 0, workers: 1 }), {
    log: silentLogger,
  });
  const audit = await auditCommand.start(
    auditCommand.resolve({ port: 0, db: `${dir.path}/audit.db` }),
    { log: silentLogger },
  );
  const sc = await startSidecar({
    agent_url: agent.url,
    relay_url: relay.url,
    audit_url: audit.url,
  });
  const client = new RelayClient({ url: relay.url });
  const events: RelayEvent[] = [];
  const sub = client.subscribe(["iatp.trace"], (e) => void events.push(e));
  try {
    assert.equal((await post(sc.url, BODY, { "X-Agent-Trace-ID": "keys-relay" })).status, 200);
    await waitFor(
      () =>
        events.some((e) => e.payload.trace_id === "keys-relay" && e.payload.type === "response"),
      20_000,
      "relay events",
    );
    assertClean("relay", JSON.stringify(events));
    const request = events.find((e) => e.payload.type === "request")!;
    const details = request.payload.details as { payload: string };
    assert.deepEqual(JSON.parse(details.payload), expectedPayload());
    await waitFor(
      async () => (await (await fetch(`${audit.url}/tx/keys-relay`)).json()).length > 0,
      20_000,
      "audit entry",
    );
    assertClean("ledger", JSON.stringify(await (await fetch(`${audit.url}/tx/keys-relay`)).json()));
  } finally {
    sub.close();
    await client.close();
    await sc.close();
    await audit.close();
    await relay.close();
    await agent.close();
    await dir.remove();
  }
});
