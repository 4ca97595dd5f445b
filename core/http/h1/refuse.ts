/**
 * Refusing a connection over the cap: a 503 JSON envelope with `Connection: close`, then a
 * short lingering close so the client reads the answer instead of a reset.
 * @module
 */
import { after } from "../../async/mod.ts";
import { HttpError } from "../../errors/mod.ts";
import { NO_HOOKS, sendResponse, SocketWriter } from "./response.ts";

/** Refused connections answered at once at most; beyond, they are closed without an answer. */
const MAX_REFUSING = 64;
/** How long a refused connection may linger (reading and dropping the client's request). */
const REFUSE_LINGER_MS = 1_000;

let refusing = 0;

/** Answers `conn` with 503 and closes it; never rejects. */
export function refuseConnection(
  conn: Deno.Conn,
  errorResponse: (err: HttpError) => Response,
): void {
  if (refusing >= MAX_REFUSING) {
    close(conn);
    return;
  }
  refusing++;
  const timer = after(REFUSE_LINGER_MS, () => close(conn));
  (async () => {
    const res = errorResponse(new HttpError(503, "too many connections"));
    const framing = { head: false, minor: 1, keepAlive: false };
    await sendResponse(new SocketWriter(conn), res, framing, NO_HOOKS);
    await conn.closeWrite();
    const sink = new Uint8Array(4096);
    while (await conn.read(sink) !== null) { /* drop the request */ }
  })().catch(() => {}).finally(() => {
    timer.cancel();
    close(conn);
    refusing--;
  });
}

function close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}
