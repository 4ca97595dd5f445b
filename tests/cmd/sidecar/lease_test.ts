/**
 * The sidecar's request and answer bodies sit in pooled buffers reused once an answer resolved:
 * what was kept of a request (its trace in memory and in the durable file) and every answer stay
 * that request's own, whether the agent answered, timed out (504) or reset (502), while later
 * requests, one after another, many at once, pipelined or after `100 Continue`, reuse those buffers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ok, startRawAgent } from "../../support/raw_agent.ts";
import { header, RawConn } from "../../support/raw_http.ts";
import { waitFor } from "../../helpers.ts";
import { post, startSidecar } from "./fixtures.ts";

interface Body {
  mode: "echo" | "hang" | "reset";
  who: string;
  pad: string;
}

/** Bodies of one length, so each one fills a reused buffer exactly where the last one was. */
function bodyOf(mode: Body["mode"], who: string, fill: string): Body {
  return { mode, who: who.padEnd(12, "-"), pad: fill.repeat(300) };
}

async function requestPayload(base: string, id: string): Promise<string | undefined> {
  const t = await (await fetch(`${base}/trace/${id}`)).json();
  const rec = (t.records ?? []).find((r: { type: string }) => r.type === "request");
  return rec?.details?.payload;
}

/**
 * Runs the exchanges on a sidecar with `file` as its durable recorder (records are then built
 * as they are recorded) or none (built when first read), and checks what was kept.
 */
async function exchanges(file: string | undefined): Promise<void> {
  const agent = startRawAgent((a) => {
    const mode = (JSON.parse(a.body) as Body).mode;
    return mode === "hang" ? "hang" : mode === "reset" ? "close" : ok(a.body);
  });
  const sc = await startSidecar({
    agent_url: agent.url,
    upstream_timeout: 300,
    ...(file ? { recorder_file: file } : {}),
  });
  const sent = new Map<string, Body>();
  const send = async (id: string, body: Body) => {
    sent.set(id, body);
    return await post(sc.url, body, { "X-Agent-Trace-ID": id });
  };
  try {
    // One after another: each ending is followed by requests that reuse its buffers.
    const endings: Array<[Body["mode"], number]> = [["echo", 200], ["hang", 504], ["reset", 502]];
    for (const [mode, status] of endings) {
      const r = await send(`first-${mode}`, bodyOf(mode, `first ${mode}`, "a"));
      assert.equal(r.status, status, mode);
      for (let i = 0; i < 4; i++) {
        const body = bodyOf("echo", `after ${mode} ${i}`, String(i));
        const after = await send(`after-${mode}-${i}`, body);
        assert.equal(after.text, JSON.stringify(body));
      }
    }
    // Many at once, their endings mixed.
    const modes: Body["mode"][] = ["echo", "echo", "hang", "echo", "reset"];
    const wave = Array.from({ length: 30 }, (_, i) => {
      const body = bodyOf(modes[i % modes.length], `wave ${i}`, "bcdefghijk"[i % 10]);
      return { id: `wave-${i}`, body };
    });
    const answers = await Promise.all(wave.map((w) => send(w.id, w.body)));
    answers.forEach((r, i) => {
      const expected = { echo: 200, hang: 504, reset: 502 }[wave[i].body.mode];
      assert.equal(r.status, expected, wave[i].id);
      if (r.status === 200) assert.equal(r.text, JSON.stringify(wave[i].body), wave[i].id);
      else assert.equal(r.json.trace_id, wave[i].id);
    });
    for (const [id, body] of sent) {
      assert.equal(await requestPayload(sc.url, id), JSON.stringify(body), `trace ${id}`);
    }
    if (file === undefined) return;
    await sc.close();
    const stored = new Map<string, string>();
    for (const line of (await Deno.readTextFile(file)).split("\n")) {
      if (line === "") continue;
      const rec = JSON.parse(line);
      if (rec.type === "request") stored.set(rec.trace_id, rec.details.payload);
    }
    for (const [id, body] of sent) assert.equal(stored.get(id), JSON.stringify(body), `file ${id}`);
  } finally {
    await sc.close();
    agent.close();
  }
}

Deno.test("traces and answers keep each request's own bytes (records built when read)", async () => {
  await exchanges(undefined);
});

Deno.test("the durable file keeps each request's own bytes (records built at once)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await exchanges(join(dir, "records.jsonl"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A /proxy request as bytes on the wire. */
function wire(id: string, body: Body, extra = ""): string {
  const text = JSON.stringify(body);
  return `POST /proxy HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
    `X-Agent-Trace-ID: ${id}\r\n${extra}Content-Length: ${text.length}\r\n\r\n${text}`;
}

Deno.test("pipelined, 100-continue and abandoned requests keep their own bytes", async () => {
  const agent = startRawAgent((a) => {
    const mode = (JSON.parse(a.body) as Body).mode;
    return mode === "hang" ? "hang" : ok(a.body);
  });
  const sc = await startSidecar({ agent_url: agent.url, upstream_timeout: 300 });
  const port = Number(new URL(sc.url).port);
  const sent = new Map<string, Body>();
  const c = await RawConn.open(port);
  const gone = await RawConn.open(port);
  try {
    // A client that leaves while its request waits for the agent (answered 504 to no one).
    const left = bodyOf("hang", "left", "L");
    sent.set("left", left);
    await gone.write(wire("left", left));
    // Three requests in one write behind it on another connection.
    const piped = ["p0", "p1", "p2"].map((id, i) => ({ id, body: bodyOf("echo", id, `${i}`) }));
    for (const p of piped) sent.set(p.id, p.body);
    await c.write(piped.map((p) => wire(p.id, p.body)).join(""));
    gone.close();
    for (const p of piped) {
      const r = await c.read();
      assert.equal(r?.status, 200, p.id);
      assert.equal(r?.body, JSON.stringify(p.body), p.id);
      assert.equal(header(r!, "x-agent-trace-id"), p.id);
    }
    // Expect: 100-continue, the body sent once the interim answer came.
    const cont = bodyOf("echo", "continue", "C");
    sent.set("cont", cont);
    const text = JSON.stringify(cont);
    await c.write(wire("cont", cont, "Expect: 100-continue\r\n").slice(0, -text.length));
    await c.write(text);
    const r = await c.read();
    assert.equal(r?.status, 200);
    assert.equal(r?.body, text);
    // The abandoned request ends (504) once the agent's time is up; then every trace is checked.
    await waitFor(
      async () => {
        const t = await (await fetch(`${sc.url}/trace/left`)).json();
        return (t.records ?? []).some((x: { type: string }) => x.type === "error");
      },
      10_000,
      "the abandoned request's 504",
    );
    for (const [id, body] of sent) {
      assert.equal(await requestPayload(sc.url, id), JSON.stringify(body), `trace ${id}`);
    }
  } finally {
    c.close();
    gone.close();
    await sc.close();
    agent.close();
  }
});
