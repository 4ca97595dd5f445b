/**
 * The proxy reads the clock once as the agent's answer (or its failure) arrives: the answer
 * carries that reading as `endedAt`, so the request's latency metric ends where the agent's
 * latency (X-Agent-Latency-Ms, the recorder's `latency_ms`) ends, with no second read.
 * @module
 */
import assert from "node:assert/strict";
import type { RawRequest, RawResponse } from "../../../core/http/mod.ts";
import { type ClientResponse, HttpClientError } from "../../../core/http/client/mod.ts";
import { createProxy } from "../../../core/sidecar/proxy.ts";

const body = new TextEncoder().encode('{"task":"x"}');

function request(): RawRequest {
  const headers: Array<[string, string]> = [["content-type", "application/json"]];
  return {
    method: "POST",
    target: "/proxy/a",
    headers,
    header: (name) => headers.find(([n]) => n === name)?.[1] ?? null,
    body: () => Promise.resolve(body.slice()),
    bodyNow: () => body.slice(),
  };
}

/** A proxy whose agent answers (or fails) after `delayMs`; the records it made. */
function proxyWith(answer: () => Promise<ClientResponse>) {
  const records: Array<{ type: string; details: unknown }> = [];
  const proxy = createProxy({
    agentUrl: "http://127.0.0.1:9/",
    send: answer,
    decision: {
      retention: "ephemeral",
      reversibility: "full",
      humanInLoop: false,
      trustScore: 10,
      quarantined: false,
    },
    override: { mode: "disabled", legacy: false, notices: [], accepts: () => false },
    recorder: {
      record: (type, _trace, details) => {
        records.push({ type, details });
        return records.length;
      },
      readsAtOnce: false,
    },
    timeoutMs: 1_000,
    maxBodyBytes: 1 << 20,
    maxJsonDepth: 32,
    tracePayloadChars: 100,
    forwardHeaders: [],
  });
  return { proxy, records };
}

const later = <T>(ms: number, f: () => T) =>
  new Promise<T>((resolve, reject) =>
    setTimeout(() => {
      try {
        resolve(f());
      } catch (err) {
        reject(err);
      }
    }, ms)
  );

Deno.test("an answered /proxy carries the clock reading its latency ended at", async () => {
  const { proxy, records } = proxyWith(() =>
    later(30, () => ({ status: 200, contentType: "application/json", body: body.slice() }))
  );
  const before = performance.now();
  const res: RawResponse = await proxy.serve(request());
  const after = performance.now();
  assert.equal(res.status, 200);
  assert.equal(typeof res.endedAt, "number");
  assert.ok(res.endedAt! >= before + 30 && res.endedAt! <= after, "read as the answer came");
  const latency = Number(res.headers.find(([n]) => n === "X-Agent-Latency-Ms")?.[1]);
  // The agent's latency ends at the same reading (it began at the forward, after `before`).
  assert.ok(latency >= 30 && latency <= Math.round(res.endedAt! - before), `latency ${latency}`);
  assert.deepEqual(records.map((r) => r.type), ["request", "response"]);
});

Deno.test("a /proxy whose agent failed carries the clock reading its latency ended at", async () => {
  const { proxy, records } = proxyWith(() =>
    later(30, () => {
      throw new HttpClientError("timeout", "deadline");
    })
  );
  const before = performance.now();
  const res = await proxy.serve(request());
  const after = performance.now();
  assert.equal(res.status, 504);
  assert.ok(res.endedAt! >= before + 30 && res.endedAt! <= after, "read as the failure came");
  const error = records.find((r) => r.type === "error")?.details as { latency_ms: number };
  assert.ok(error.latency_ms >= 30 && error.latency_ms <= Math.round(res.endedAt! - before));
});
