/**
 * Everything the sidecar forwards is scanned with the same detectors and block rules: path,
 * query (percent-decoded, `+` as a space) and every forwarded header value; the recorder keeps
 * only scrubbed copies of them.
 */
import assert from "node:assert/strict";
import { post, startAgent, startSidecar } from "./fixtures.ts";

const CARD = "4532015112830366";

/** POSTs `{}` to /proxy over a raw connection with `header` written as UTF-8; the status line. */
async function rawPost(base: string, header: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(base).port) });
  try {
    const head =
      `POST /proxy HTTP/1.1\r\nHost: ${new URL(base).host}\r\nContent-Type: application/json\r\n` +
      `Content-Length: 2\r\nConnection: close\r\n${header}\r\n\r\n{}`;
    await conn.write(new TextEncoder().encode(head));
    const buf = new Uint8Array(256);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0];
  } finally {
    conn.close();
  }
}
const SSN = "078-05-1120";

Deno.test("a card in the path, the query or a forwarded header is blocked at permanent retention", async () => {
  const agent = startAgent();
  const sc = await startSidecar({
    agent_url: agent.url,
    trust_level: "trusted",
    retention: "permanent",
    forward_headers: ["user-agent", "baggage", "x-request-id", "accept"],
  });
  try {
    const urls = [
      `/proxy/cards/${CARD}`,
      "/proxy/cards/4532%2D0151%2D1283%2D0366",
      "/proxy/cards/4532%252D0151%252D1283%252D0366", // encoded twice
      `/proxy/x?card=${CARD}`,
      "/proxy/x?card=4532+0151+1283+0366",
      "/proxy/x?card=4532%200151%201283%200366",
      "/proxy/x?card=4532%2d0151%2d1283%2d0366&y=1",
    ];
    for (const url of urls) {
      const r = await post(sc.url, { q: 1 }, {}, url);
      assert.equal(r.status, 403, url);
      assert.equal(r.json.reason, "credit_card", url);
      assert.ok(r.json.trace_id, url);
    }
    const headers: Array<Record<string, string>> = [
      { "User-Agent": `bot/1.0 (card ${CARD})` },
      { "baggage": "card=4532%200151%201283%200366" },
      { "X-Request-Id": `4532-0151-1283-0366` },
      { "Accept": `application/json; card=${CARD}` },
      { "Content-Type": `application/json; card=${CARD}` },
    ];
    for (const h of headers) {
      const r = await post(sc.url, { q: 1 }, h);
      assert.equal(r.status, 403, JSON.stringify(h));
    }
    assert.equal(agent.received.length, 0, "nothing blocked reached the agent");
    // What is not forwarded is not scanned (and never reaches the agent).
    const r = await post(sc.url, { q: 1 }, { "X-Not-Forwarded": CARD });
    assert.equal(r.status, 200);
    assert.equal(agent.received.at(-1)!.headers.get("x-not-forwarded"), null);
  } finally {
    await sc.close();
    await agent.close();
  }
});

Deno.test("an SSN in the query or a header is blocked unless retention is ephemeral", async () => {
  const agent = startAgent();
  const temp = await startSidecar({ agent_url: agent.url, trust_level: "trusted" });
  const eph = await startSidecar({
    agent_url: agent.url,
    trust_level: "trusted",
    retention: "ephemeral",
  });
  try {
    const q = await post(temp.url, {}, {}, "/proxy/p?ssn=078%2D05%2D1120");
    assert.equal(q.status, 403);
    assert.equal(q.json.reason, "ssn");
    assert.equal((await post(temp.url, {}, { "User-Agent": `x ${SSN}` })).status, 403);
    assert.equal((await post(temp.url, {}, {}, "/proxy/078-05-1120")).status, 403);
    assert.equal((await post(eph.url, {}, {}, "/proxy/p?ssn=078-05-1120")).status, 200);
    assert.equal(agent.received.at(-1)!.path, "/p?ssn=078-05-1120", "forwarded as sent");
  } finally {
    await temp.close();
    await eph.close();
    await agent.close();
  }
});

Deno.test("the recorder keeps scrubbed copies of path, query and headers", async () => {
  const agent = startAgent();
  const sc = await startSidecar({
    agent_url: agent.url,
    trust_level: "trusted",
    retention: "ephemeral",
    forward_headers: ["user-agent", "x-tenant"],
  });
  try {
    const r = await post(sc.url, { q: 1 }, {
      "X-Agent-Trace-ID": "scan-rec-1",
      "User-Agent": `agent (ssn ${SSN})`,
      "X-Tenant": "acme",
    }, `/proxy/users/${SSN}?card=4532%2D0151%2D1283%2D0366&page=2`);
    assert.equal(r.status, 200);
    const t = await (await fetch(`${sc.url}/trace/scan-rec-1`)).json();
    const text = JSON.stringify(t);
    for (const raw of ["4532", "078-05", "0151", "1120"]) {
      assert.ok(!text.includes(raw), `${raw} in ${text}`);
    }
    const req = t.records[0].details;
    assert.equal(req.path, "/proxy/users/[SSN_REDACTED]");
    assert.equal(req.query, "card=[CREDIT_CARD_REDACTED]&page=2");
    assert.equal(req.headers["user-agent"], "agent (ssn [SSN_REDACTED])");
    assert.equal(req.headers["x-tenant"], undefined, "a header without PII is not recorded");
    assert.deepEqual(req.sensitive, { credit_card: true, ssn: true });
    assert.deepEqual(req.found_in, ["url", "headers"]);
  } finally {
    await sc.close();
    await agent.close();
  }
});

Deno.test("a client trace id holding a card is replaced, never stored or echoed", async () => {
  const agent = startAgent();
  const sc = await startSidecar({ agent_url: agent.url });
  try {
    const r = await post(sc.url, {}, { "X-Agent-Trace-ID": `t-${CARD}` });
    assert.equal(r.status, 200);
    const id = r.headers.get("x-agent-trace-id")!;
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(agent.received.at(-1)!.headers.get("x-agent-trace-id"), id);
    const lookup = await fetch(`${sc.url}/trace/t-${CARD}`);
    assert.equal(lookup.status, 404);
    await lookup.body?.cancel();
  } finally {
    await sc.close();
    await agent.close();
  }
});

Deno.test("a body with non-ASCII text (and a byte order mark) is scrubbed at the right places", async () => {
  const agent = startAgent();
  const sc = await startSidecar({ agent_url: agent.url, retention: "ephemeral" });
  try {
    const body = {
      "примечание": `😀 карта ${CARD} ✓`,
      "naïve": "ü 078-05-1120 ü",
      "пароль password": "секрет",
      keep: "日本語",
    };
    const json = new TextEncoder().encode(JSON.stringify(body));
    for (
      const [id, bytes] of [["nonascii-1", json], [
        "bom-1",
        new Uint8Array([0xef, 0xbb, 0xbf, ...json]),
      ]] as const
    ) {
      const res = await fetch(`${sc.url}/proxy`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-agent-trace-id": id },
        body: bytes,
      });
      assert.equal(res.status, 200, id);
      await res.body?.cancel();
      const t = await (await fetch(`${sc.url}/trace/${id}`)).json();
      assert.deepEqual(JSON.parse(t.records[0].details.payload), {
        "примечание": "😀 карта [CREDIT_CARD_REDACTED] ✓",
        "naïve": "ü [SSN_REDACTED] ü",
        "пароль password": "[REDACTED]",
        keep: "日本語",
      }, id);
    }
  } finally {
    await sc.close();
    await agent.close();
  }
});

Deno.test("a card or an SSN written as a number with a fraction or an exponent, or SSN context written with escapes, is found", async () => {
  const agent = startAgent(5_000, 19611);
  const blocking = await startSidecar({
    agent_url: agent.url,
    port: 19612,
    trust_level: "trusted",
    retention: "permanent",
  });
  const recording = await startSidecar({
    agent_url: agent.url,
    port: 19613,
    trust_level: "trusted",
    retention: "temporary",
  });
  try {
    // Each is the integer 4532015112830366 (123456789) to the agent's JSON parser.
    for (const body of ['{"n":4.532015112830366e15}', '{"n":[4532015112830366.0]}']) {
      const r = await post(blocking.url, body);
      assert.equal(r.status, 403, body);
      assert.equal(r.json.reason, "credit_card", body);
    }
    for (const body of ['{"ssn":1.23456789E8}', String.raw`{"note":"my s\u0073n is 078051120"}`]) {
      const ssn = await post(blocking.url, body);
      assert.equal(ssn.status, 403, body);
      assert.equal(ssn.json.reason, "ssn", body);
    }
    assert.equal(agent.received.length, 0);
    // Where a card may pass, the agent gets the bytes and the recorder a valid redacted copy.
    const body = '{"n":4.532015112830366e15,"m":1.5}';
    const r = await post(recording.url, body);
    assert.equal(r.status, 200);
    assert.equal(agent.received[0].body, body);
    const id = r.headers.get("x-agent-trace-id")!;
    const trace = await (await fetch(`${recording.url}/trace/${id}`)).json();
    const details = trace.records[0].details;
    assert.deepEqual(JSON.parse(details.payload), { n: "[CREDIT_CARD_REDACTED]", m: 1.5 });
    assert.deepEqual(details.sensitive, { credit_card: true, ssn: false });
  } finally {
    await blocking.close();
    await recording.close();
    await agent.close();
  }
});

Deno.test("a card or an SSN in full-width, Arabic-Indic or Devanagari digits, or their escapes, is blocked and never kept", async () => {
  const agent = startAgent();
  const blocking = await startSidecar({
    agent_url: agent.url,
    trust_level: "trusted",
    retention: "permanent",
    forward_headers: ["x-request-id"],
  });
  const recording = await startSidecar({ agent_url: agent.url, trust_level: "trusted" });
  const script = (text: string, zero: number) =>
    text.replace(/[0-9]/g, (d) => String.fromCodePoint(zero + Number(d)));
  const escaped = (text: string, zero: number) =>
    text.replace(/[0-9]/g, (d) => `\\u${(zero + Number(d)).toString(16).padStart(4, "0")}`);
  const wideDigit = /(?![0-9])\p{Nd}/u;
  try {
    for (const zero of [0xff10, 0x660, 0x966]) {
      const card = script("4532 0151 1283 0366", zero);
      const ssn = script(SSN, zero);
      const bodies: [string, string][] = [
        [JSON.stringify({ note: `pay ${card}` }), "credit_card"],
        [`{"note":"pay ${escaped(CARD, zero)}"}`, "credit_card"],
        [JSON.stringify({ note: `4532${script("015112830366", zero)}` }), "credit_card"],
        [JSON.stringify({ who: ssn }), "ssn"],
        [`{"ssn":"${escaped("078051120", zero)}"}`, "ssn"],
      ];
      for (const [body, reason] of bodies) {
        const r = await post(blocking.url, body);
        assert.equal(r.status, 403, body);
        assert.equal(r.json.reason, reason, body);
        const trace = await (await fetch(`${blocking.url}/trace/${r.json.trace_id}`)).text();
        assert.ok(!wideDigit.test(trace) && !trace.includes("\\u"), trace);
      }
      const r = await post(blocking.url, { q: 1 }, {}, `/proxy/x?c=${encodeURIComponent(card)}`);
      assert.equal(r.status, 403);
      assert.equal(r.json.reason, "credit_card");
      // A header's bytes in UTF-8 (no fetch sends them: a raw request).
      assert.match(await rawPost(blocking.url, `X-Request-Id: ${card}`), /^HTTP\/1\.1 403 /);
      // Where a card may pass, the recorder keeps a redacted copy.
      const kept = await post(recording.url, { note: `pay ${card}`, n: script("12", zero) });
      assert.equal(kept.status, 200);
      const id = kept.headers.get("x-agent-trace-id")!;
      const details = (await (await fetch(`${recording.url}/trace/${id}`)).json()).records[0]
        .details;
      assert.deepEqual(JSON.parse(details.payload), {
        note: "pay [CREDIT_CARD_REDACTED]",
        n: script("12", zero),
      });
      assert.deepEqual(details.sensitive, { credit_card: true, ssn: false });
    }
    assert.equal(agent.received.length, 3, "only the recorded bodies reached the agent");
    for (const line of [...blocking.logs, ...recording.logs]) {
      assert.ok(!/(?![0-9])\p{Nd}{4}/u.test(line), line);
    }
  } finally {
    await blocking.close();
    await recording.close();
    await agent.close();
  }
});
