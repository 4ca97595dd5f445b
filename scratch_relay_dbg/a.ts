import { startRelay, publish } from "/work/main/tests/core/relay/relay_helpers.ts";
const relay = await startRelay({ queue_frames: 8, max_payload_bytes: 300_000, max_body_bytes: 400_000 });
const u = new URL(relay.url);
const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
await conn.write(new TextEncoder().encode(`GET /subscribe?topic=big HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`));
const blob = "z".repeat(200_000);
for (let i = 0; i < 200; i++) {
  const t0 = performance.now();
  const r = await publish(relay.url, "big", { n: i, blob });
  if (i % 10 === 0) {
    const m = await (await fetch(`${relay.url}/metrics`)).text();
    console.log(i, r.status, (performance.now()-t0).toFixed(1), m.split("\n").filter(l=>l.startsWith("iatp_relay")||l.startsWith("process_res")).join(" | "));
  }
}
conn.close();
await relay.close();
