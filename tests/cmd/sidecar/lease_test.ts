/**
 * The sidecar's request and answer bodies sit in pooled buffers reused once an answer resolved:
 * what was kept of a request (its trace in memory and in the durable file) and every answer stay
 * that request's own, whether the agent answered, timed out (504) or reset (502), while later
 * requests, one after another and many at once, reuse those buffers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ok, startRawAgent } from "../../support/raw_agent.ts";
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
