/**
 * A naive Deno proxy, the sidecar benchmark's floor for "Deno with no checks at all":
 * `Deno.serve` + `fetch` to the upstream, the body read whole, nothing inspected or recorded.
 * Usage: deno run -A scripts/bench/naive_proxy.ts PORT UPSTREAM_URL
 * @module
 */
if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
  console.log(`Usage: deno run -A scripts/bench/naive_proxy.ts PORT UPSTREAM_URL
Proxies every request on 127.0.0.1:PORT to UPSTREAM_URL (started by scripts/bench/sidecar.ts).`);
  Deno.exit(0);
}
const [port, upstream] = Deno.args;
Deno.serve({ hostname: "127.0.0.1", port: Number(port), onListen: () => {} }, async (req) => {
  const res = await fetch(upstream, {
    method: "POST",
    headers: { "content-type": req.headers.get("content-type") ?? "application/json" },
    body: await req.arrayBuffer(),
  });
  return new Response(res.body, { status: res.status, headers: res.headers });
});
