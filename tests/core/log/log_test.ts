import assert from "node:assert/strict";
import {
  addScrubber,
  createLogger,
  REDACTED,
  registerSecret,
  scrub,
  scrubString,
} from "../../../core/log/mod.ts";

function capture(level: "debug" | "info" | "warn" | "error" = "info") {
  const lines: string[] = [];
  const log = createLogger({ service: "t", level, sink: (l) => lines.push(l) });
  return { log, lines, records: () => lines.map((l) => JSON.parse(l)) };
}

Deno.test("lines are JSON with ts, level, msg, service, fields", () => {
  const { log, records } = capture();
  log.info("hello", { n: 1 });
  const [rec] = records();
  assert.equal(rec.level, "info");
  assert.equal(rec.msg, "hello");
  assert.equal(rec.service, "t");
  assert.deepEqual(rec.fields, { n: 1 });
  assert.ok(!Number.isNaN(Date.parse(rec.ts)));
});

Deno.test("lines below the configured level are dropped", () => {
  const { log, records } = capture("warn");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(records().map((r) => r.level), ["warn", "error"]);
});

Deno.test("child loggers carry their fields", () => {
  const { log, records } = capture();
  log.child({ request_id: "r1" }).info("x", { a: 2 });
  assert.deepEqual(records()[0].fields, { request_id: "r1", a: 2 });
});

Deno.test("sensitive keys lose their whole value, at any depth", () => {
  const { log, lines } = capture();
  log.info("req", {
    headers: { Authorization: "Bearer abc.def.ghi", "x-api-key": "k-123456", accept: "json" },
    nested: [{ password: "hunter22" }, { client_secret: "zzz999" }],
  });
  const text = lines[0];
  for (const secret of ["abc.def.ghi", "k-123456", "hunter22", "zzz999"]) {
    assert.ok(!text.includes(secret), `${secret} leaked: ${text}`);
  }
  assert.ok(text.includes('"accept":"json"'));
});

Deno.test("secret-shaped values are scrubbed inside free text", () => {
  const jwt =
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
  const mesh = `iatp1.eyJzdWIiOiJwb2xpY3kifQ.${"A".repeat(86)}`;
  const text = scrubString(
    `auth Bearer tok_live_ABCDEF123 then ${jwt} url https://u:pw123@host/x?token=qq1&x=1 ` +
      "-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----" +
      ` login="${mesh}"`,
  );
  for (
    const leaked of ["tok_live_ABCDEF123", jwt, "pw123", "qq1", "MIIEv", "eyJzdWIiOiJwb2xpY3kifQ"]
  ) {
    assert.ok(!text.includes(leaked), `${leaked} leaked: ${text}`);
  }
  assert.ok(text.includes("x=1"));
});

Deno.test("each secret shape is scrubbed on its own in a string holding nothing else", () => {
  const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9";
  const cases: Array<[string, string]> = [
    ["auth BEARER tok_live_ABCDEF123 ok", "tok_live_ABCDEF123"],
    ["basic dXNlcjpwYXNzd29yZA", "dXNlcjpwYXNzd29yZA"],
    [`seen ${jwt} here`, jwt],
    [`cred iatp1.eyJzdWIiOiJwb2xpY3kifQ.${"B".repeat(20)} end`, "B".repeat(20)],
    ["API_KEY=sk-98765 rest", "sk-98765"],
    ["https://user:pw98765@host/path", "pw98765"],
    ["-----BEGIN RSA PRIVATE KEY-----\nMIIEvQ98765\n-----END RSA PRIVATE KEY-----", "MIIEvQ98765"],
  ];
  for (const [text, secret] of cases) {
    const out = scrubString(text);
    assert.ok(!out.includes(secret), `${secret} leaked: ${out}`);
  }
  assert.equal(
    scrubString("plain words, numbers 12 and a path /a/b"),
    "plain words, numbers 12 and a path /a/b",
  );
});

Deno.test("registered secrets are replaced wherever they appear", () => {
  registerSecret("correct-horse-battery-staple");
  const { log, lines } = capture();
  log.warn("oops correct-horse-battery-staple in message", {
    note: "value=correct-horse-battery-staple",
  });
  assert.ok(!lines[0].includes("correct-horse-battery-staple"));
  assert.ok(lines[0].includes(REDACTED));
});

Deno.test("scrub hooks run on every string (PII hook point)", () => {
  addScrubber((s) => s.replace(/\b4111111111111111\b/g, "[CREDIT_CARD_REDACTED]"));
  const { log, lines } = capture();
  log.info("card 4111111111111111", { body: { card: "4111111111111111" } });
  assert.ok(!lines[0].includes("4111111111111111"));
});

Deno.test("errors are serialized with scrubbed message and stack", () => {
  const { log, records } = capture();
  log.error("failed", { err: new Error("Bearer sk_abcdef123 rejected") });
  const rec = records()[0];
  assert.equal(rec.fields.err.name, "Error");
  assert.ok(!JSON.stringify(rec).includes("sk_abcdef123"));
});

Deno.test("scrub bounds depth on hostile nesting and never mutates input", () => {
  let deep: Record<string, unknown> = { v: 1 };
  for (let i = 0; i < 100; i++) deep = { d: deep };
  const out = JSON.stringify(scrub(deep));
  assert.ok(out.includes("[TOO_DEEP]"));
  const input = { token: "abcdefgh" };
  scrub(input);
  assert.equal(input.token, "abcdefgh");
});

Deno.test("member names are scrubbed like values: a credential used as a key is not written", () => {
  const cred = "iatp1.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2ln";
  const { log, lines } = capture();
  log.info("event", { payload: { [cred]: 1, nested: { "Bearer abcdefgh123": "x" } } });
  assert.ok(!lines[0].includes(cred), lines[0]);
  assert.ok(!lines[0].includes("abcdefgh123"), lines[0]);
  const out = scrub({ [cred]: "v", plain: "w" }) as Record<string, unknown>;
  assert.deepEqual(out, { [REDACTED]: "v", plain: "w" });
});

Deno.test("control and format characters a client named are written as \\uXXXX, not raw", () => {
  const { log, lines, records } = capture();
  // C1 CSI and NEL, DEL, a line separator, a right-to-left override, a zero-width space, BOM and
  // a tag character beyond the BMP: JSON.stringify leaves each of them raw.
  const name = "a\u009b2J\u0085b\u007fc\u2028d\u202ee\u200bf\ufeffg\u{e0041}h\u001b[31m";
  log.warn(`topic ${name}`, { actor: name, [name]: 1 });
  const [line] = lines;
  assert.doesNotMatch(line, /[\p{Cc}\p{Cf}\u2028\u2029]/u);
  assert.ok(line.includes("a\\u009b2J\\u0085b\\u007fc\\u2028d\\u202ee\\u200bf\\ufeffg"));
  assert.ok(line.includes("\\udb40\\udc41h\\u001b[31m"));
  const [rec] = records();
  assert.equal(rec.msg, `topic ${name}`);
  assert.deepEqual(rec.fields, { actor: name, [name]: 1 });
});
