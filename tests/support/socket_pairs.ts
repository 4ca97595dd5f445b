/** Connected socket pairs (loopback TCP, Unix) for socket tests. @module */

/** Two ends of one loopback TCP connection: `conn` dials, `peer` accepts. */
export interface TcpPair {
  conn: Deno.TcpConn;
  peer: Deno.TcpConn;
  /** Closes both ends (an end closed already is skipped). */
  close(): void;
}

/** Connects a loopback TCP pair on a free port. */
export async function tcpPair(): Promise<TcpPair> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const peer = await accepted;
  listener.close();
  return {
    conn,
    peer,
    close() {
      for (const c of [conn, peer]) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
    },
  };
}

/** A connected Unix socket pair in a folder of its own, which `close` removes. */
export async function unixPair(): Promise<
  { conn: Deno.UnixConn; peer: Deno.UnixConn; close(): Promise<void> }
> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/s.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  try {
    const accepted = listener.accept();
    const conn = await Deno.connect({ transport: "unix", path });
    const peer = await accepted;
    return {
      conn,
      peer,
      async close() {
        for (const c of [conn, peer]) {
          try {
            c.close();
          } catch { /* already closed */ }
        }
        await Deno.remove(dir, { recursive: true });
      },
    };
  } finally {
    listener.close();
  }
}
