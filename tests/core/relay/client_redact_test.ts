/**
 * A relay client never reports its token, in whatever shape a refusal (a proxy's error page, a
 * misconfigured upstream) echoes it: percent-encoded or JSON-escaped, cut by the 200-byte start
 * of a body or the 64 characters of a content type, split between two reads of a chunked
 * body, and on the publish path as on the subscription's. Real sockets on loopback.
 */
import assert from "node:assert/strict";
import { RelayClient, type SubscriptionStatus } from "../../../core/relay/client/mod.ts";
import { chunk, type StallConnection, startStallServer } from "../../support/stall_server.ts";
import { waitFor } from "../../helpers.ts";
import { sleep } from "../../../core/async/mod.ts";
import { createLogger, type Logger } from "../../../core/log/mod.ts";

const TOKEN = "s3cretTok/+=0123456789abcdefXYZ";
/** Any 6 characters of the token in a row, as written or percent-encoded. */
const LEAKS = [TOKEN.slice(0, 6), encodeURIComponent(TOKEN).slice(0, 6), "tok%2F", "Tok%2f"];

/** The service's logger (its own scrubbing included), keeping every line it writes. */
function keepingLog(lines: string[]): Logger {
  return createLogger({ service: "test", level: "debug", sink: (l) => void lines.push(l) });
}

function assertNoLeak(texts: string[]): void {
  for (const t of texts) {
    for (const leak of LEAKS) {
      assert.ok(!t.toLowerCase().includes(leak.toLowerCase()), `${leak} in ${t}`);
    }
  }
}

/** Answers each subscription with `answer` and collects what the client reports and logs. */
async function subscriptionReports(
  answer: (c: StallConnection) => Promise<void>,
): Promise<string[]> {
  const server = startStallServer((c) => void answer(c).catch(() => {}));
  const lines: string[] = [];
  const client = new RelayClient({
    url: server.url,
    token: TOKEN,
    backoffMinMs: 20,
    backoffMaxMs: 50,
    idleTimeoutMs: 5_000,
    log: keepingLog(lines),
  });
  const reports: Array<[SubscriptionStatus, string | undefined]> = [];
  const sub = client.subscribe(["t"], () => {}, {
    onStatus: (s, err) => reports.push([s, err]),
  });
  try {
    await waitFor(() => reports.length >= 2, 5_000, "two failed connections");
  } finally {
    sub.close();
    await client.close();
    server.close();
  }
  return [...reports.map(([, e]) => e ?? ""), ...lines];
}

function refusal(body: string, status = "502 Bad Gateway"): string {
  const n = new TextEncoder().encode(body).length;
  return `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${n}\r\n\r\n${body}`;
}

Deno.test("a refusal echoing the token percent-encoded or JSON-escaped does not report it", async () => {
  const texts = await subscriptionReports((c) =>
    c.write(refusal(
      `upstream refused GET /subscribe?topic=t&access_token=${encodeURIComponent(TOKEN)} ` +
        `${JSON.stringify({ auth: `Bearer ${TOKEN}` })}`,
    ))
  );
  assert.ok(texts.some((t) => /502: upstream refused/.test(t)), texts.join("\n"));
  assertNoLeak(texts);
});

Deno.test("a token cut by the start of a refusal's body shown is not reported in part", async () => {
  // The token spans byte 200: only its start is in what the error shows.
  const texts = await subscriptionReports((c) =>
    c.write(refusal(`${"x".repeat(180)}Bearer ${TOKEN} and more`))
  );
  assert.ok(texts.some((t) => /502: xxxx/.test(t)), texts.join("\n"));
  assertNoLeak(texts);
});

Deno.test("a token split between two reads of a chunked refusal is not reported in part", async () => {
  const texts = await subscriptionReports(async (c) => {
    await c.write(
      "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n" +
        chunk(`refused Bearer ${TOKEN.slice(0, 12)}`),
    );
    await sleep(100);
    await c.write(chunk(`${TOKEN.slice(12)} here`) + "0\r\n\r\n");
  });
  assert.ok(texts.some((t) => /401: refused Bearer/.test(t)), texts.join("\n"));
  assertNoLeak(texts);
});

Deno.test("a 200 whose content type echoes the token does not report it, cut or whole", async () => {
  const texts = await subscriptionReports((c) =>
    c.write(
      `HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8; x-seen=Bearer ${TOKEN}\r\n` +
        "content-length: 2\r\n\r\nhi",
    )
  );
  assert.ok(texts.some((t) => /not an event stream/.test(t)), texts.join("\n"));
  assertNoLeak(texts);
});

Deno.test("a publish refused with a body echoing the token does not report or log it", async () => {
  const server = startStallServer((c) => {
    // Permanent (400) first, then a retried one (502).
    // Not after "Bearer " (which the logger scrubs): as a proxy may echo it.
    const body = `{"error":"bad request from token=${TOKEN} (${encodeURIComponent(TOKEN)})"}`;
    const status = server.connections.length === 1 ? "400 Bad Request" : "502 Bad Gateway";
    const answer = refusal(body, status).replace("text/plain", "application/json")
      .replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n");
    c.write(answer).then(() => c.end(), () => {});
  });
  const lines: string[] = [];
  const client = new RelayClient({
    url: server.url,
    token: TOKEN,
    backoffMinMs: 20,
    backoffMaxMs: 50,
    log: keepingLog(lines),
  });
  try {
    client.publish("t", { a: 1 });
    client.publish("t", { a: 2 });
    await waitFor(
      () => lines.length >= 2 && client.stats().last_error !== undefined,
      5_000,
      "a drop and a retry logged",
    ).catch((err) => {
      throw new Error(`${err.message}: ${lines.join("\n")}`);
    });
    const health = JSON.stringify(client.stats());
    assert.ok(lines.some((l) => /bad request from/.test(l)), lines.join("\n"));
    assertNoLeak([...lines, health]);
  } finally {
    await client.close();
    server.close();
  }
});
