/**
 * Test certificates made with openssl: a CA and a server certificate for 127.0.0.1 it signed.
 * Tests that need them are ignored where openssl is missing ({@linkcode hasOpenssl}).
 * @module
 */

/** Whether openssl runs here. */
export const hasOpenssl = (() => {
  try {
    return new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

/** Runs openssl with `args` in `cwd`; throws with its stderr when it fails. */
export async function openssl(cwd: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
}

/**
 * Writes a CA (ca.pem) and a server certificate it signed (cert.pem, key.pem) whose only subject
 * alternative name is `san` (default `IP:127.0.0.1`; `DNS:other.test`, say).
 */
export async function makeCerts(dir: string, san = "IP:127.0.0.1"): Promise<void> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  const days = ["-days", "1"];
  await openssl(
    dir,
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    ...days,
    "-subj",
    "/CN=t-ca",
  );
  await openssl(dir, "req", ...ec, "-keyout", "key.pem", "-out", "s.csr", "-subj", "/CN=127.0.0.1");
  await Deno.writeTextFile(`${dir}/s.ext`, `subjectAltName=${san}\n`);
  await openssl(
    dir,
    "x509",
    "-req",
    "-in",
    "s.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "cert.pem",
    ...days,
    "-extfile",
    "s.ext",
  );
}

/** A TLS server for tests, with the certificates {@linkcode makeCerts} wrote. */
export interface TlsHeadServer {
  /** Its port on 127.0.0.1. */
  port: number;
  /** The CA file a client must trust (DENO_CERT). */
  ca: string;
  /** Stops accepting, closes every open connection and waits for the accept loop. */
  close(): Promise<void>;
}

/**
 * Makes certificates in `dir` and serves TLS on 127.0.0.1: reads each request's head (up to the
 * blank line) and hands it to `answer` with the connection; unless `answer` returns true (close
 * now), the connection is then held until the client closes it.
 */
export async function startTlsHeadServer(
  dir: string,
  answer: (c: Deno.Conn, head: string) => Promise<boolean | void>,
): Promise<TlsHeadServer> {
  await makeCerts(dir);
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(`${dir}/cert.pem`),
    key: await Deno.readTextFile(`${dir}/key.pem`),
  });
  const dec = new TextDecoder();
  const open = new Set<Deno.Conn>();
  const serve = async (c: Deno.Conn) => {
    const buf = new Uint8Array(16 * 1024);
    let text = "";
    try {
      while (!text.includes("\r\n\r\n")) {
        const n = await c.read(buf);
        if (n === null) return;
        text += dec.decode(buf.subarray(0, n));
      }
      if (await answer(c, text.slice(0, text.indexOf("\r\n\r\n"))) === true) return;
      while (await c.read(buf) !== null) { /* until the client closes */ }
    } catch {
      /* closed */
    } finally {
      open.delete(c);
      try {
        c.close();
      } catch { /* closed */ }
    }
  };
  const accepting = (async () => {
    for await (const c of listener) {
      open.add(c);
      serve(c);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    ca: `${dir}/ca.pem`,
    close: async () => {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await accepting;
    },
  };
}
