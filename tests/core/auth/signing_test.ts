import assert from "node:assert/strict";
import {
  canonicalString,
  decodeSignature,
  HEADER_SIGNATURE,
  signRequest,
  verifySignature,
} from "../../../core/auth/signing.ts";

const enc = new TextEncoder();

function partsOf(
  headers: Record<string, string>,
  method: string,
  path: string,
  body: string,
) {
  return {
    agentId: headers["X-Agent-Id"],
    method,
    pathAndQuery: path,
    timestamp: headers["X-Timestamp"],
    requestId: headers["X-Request-Id"],
    body: enc.encode(body),
  };
}

Deno.test("a signature verifies only for the exact method, path, query, time, id and body", async () => {
  const body = '{"type":"restart","parameters":{"name":"web"}}';
  const h = await signRequest("k-1234567890", {
    agentId: "status-1",
    method: "POST",
    url: "http://x/api/v1/commands/execute?x=1",
    body,
  });
  const sig = h[HEADER_SIGNATURE];
  const good = partsOf(h, "POST", "/api/v1/commands/execute?x=1", body);
  assert.equal(await verifySignature("k-1234567890", good, sig), true);
  const variants = [
    { ...good, method: "PUT" },
    { ...good, pathAndQuery: "/api/v1/commands/report?x=1" },
    { ...good, pathAndQuery: "/api/v1/commands/execute?x=2" },
    { ...good, timestamp: String(Number(good.timestamp) + 1) },
    { ...good, requestId: good.requestId + "x" },
    { ...good, agentId: "someone-else" },
    { ...good, body: enc.encode(body.replace("web", "db")) },
  ];
  for (const v of variants) assert.equal(await verifySignature("k-1234567890", v, sig), false);
  assert.equal(await verifySignature("other-key", good, sig), false);
});

Deno.test("signatures decode from base64 and hex; garbage does not decode", async () => {
  const h = await signRequest("key", { agentId: "a", method: "GET", url: "/p" });
  const raw = decodeSignature(h[HEADER_SIGNATURE])!;
  assert.equal(raw.length, 32);
  const hex = Array.from(raw, (b) => b.toString(16).padStart(2, "0")).join("");
  const parts = partsOf(h, "GET", "/p", "");
  assert.equal(await verifySignature("key", parts, hex), true);
  assert.equal(decodeSignature("not a signature"), undefined);
  assert.equal(await verifySignature("key", parts, ""), false);
});

Deno.test("the canonical string names the scheme and the body digest", async () => {
  const s = await canonicalString({
    agentId: "a",
    method: "get",
    pathAndQuery: "/p?q=1",
    timestamp: "1700000000",
    requestId: "req-00000001",
    body: new Uint8Array(),
  });
  assert.equal(
    s,
    "IATP-HMAC-SHA256-V1\na\nGET\n/p?q=1\n1700000000\nreq-00000001\n" +
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});
