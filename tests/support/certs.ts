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

/** Writes a CA (ca.pem) and a server certificate for 127.0.0.1 it signed (cert.pem, key.pem). */
export async function makeCerts(dir: string): Promise<void> {
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
  await Deno.writeTextFile(`${dir}/s.ext`, "subjectAltName=IP:127.0.0.1\n");
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
