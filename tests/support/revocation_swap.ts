/**
 * An audit service whose revocation file is swapped for a pipe between a look at it and its
 * open: while `DIR/revoked` is a pipe (a FIFO), a stat of that path sees `DIR/revoked.shown`,
 * the regular file it held when looked at. Prints `URL <base url>`, then serves until killed.
 *
 * Usage: deno run -A tests/support/revocation_swap.ts DIR ISSUER_PUBLIC_KEY PORT
 * @module
 */
import * as audit from "../../cmd/audit.ts";
import { createLogger } from "../../core/log/mod.ts";

const [dir, publicKey, port] = Deno.args;
const watched = `${dir}/revoked`;
const statSync = Deno.statSync;
(Deno as { statSync: typeof Deno.statSync }).statSync = (path: string | URL) => {
  const info = statSync(path);
  return path === watched && info.isFifo ? statSync(`${watched}.shown`) : info;
};

const svc = await audit.start(
  audit.spec.resolve({
    host: "127.0.0.1",
    port: Number(port),
    db: `${dir}/audit.db`,
    auth_keys: [publicKey],
    auth_revoked: [`file:${watched}`],
  }),
  { log: createLogger({ service: "audit", level: "info" }) },
);
console.log(`URL ${svc.url}`);
