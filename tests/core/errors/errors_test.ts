/** core/errors: the message of anything thrown, and Deno's permission refusals in iatp's terms. */
import assert from "node:assert/strict";
import { errorMessage, refusalText } from "../../../core/errors/mod.ts";

Deno.test("errorMessage: an Error's message, anything else as a string", () => {
  assert.equal(errorMessage(new Error("boom")), "boom");
  assert.equal(errorMessage("plain"), "plain");
  assert.equal(errorMessage(42), "42");
});

Deno.test("errorMessage: a failed fetch says why (the refusal, the name lookup), never its URL", async () => {
  // A port nothing listens on (bound, then closed), and a name that cannot resolve.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const secretUrl = `http://user:hunter2hunter2@127.0.0.1:${port}/x?token=s3cr3t-t0k3n`;
  const refused = await fetch(secretUrl).then(() => undefined, (e) => e);
  const text = errorMessage(refused);
  assert.match(text, /^fetch failed: .*refused/i);
  assert.doesNotMatch(text, /hunter2|s3cr3t|127\.0\.0\.1/);
  const unresolved = await fetch("http://no-such-host.invalid/?token=s3cr3t-t0k3n")
    .then(() => undefined, (e) => e);
  assert.match(errorMessage(unresolved), /^fetch failed: .*dns/i);
  assert.doesNotMatch(errorMessage(unresolved), /s3cr3t|no-such-host/);
  // Another TypeError, or one without a cause, is its message.
  assert.equal(errorMessage(new TypeError("fetch failed")), "fetch failed");
  assert.equal(errorMessage(new TypeError("x is not a function")), "x is not a function");
});

Deno.test("errorMessage: a real refusal names IATP_ALLOW_*, never a Deno flag", async () => {
  // This test runs with -A; a worker with no read permission gets Deno's own refusal.
  const src = `try { Deno.readTextFileSync(${JSON.stringify("/etc/hostname")}); }
    catch (err) { postMessage([err instanceof Deno.errors.NotCapable, err.message]); }`;
  const url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
  const worker = new Worker(url, { type: "module", deno: { permissions: "none" } });
  try {
    const [notCapable, message] = await new Promise<[boolean, string]>((resolve) => {
      worker.onmessage = (e) => resolve(e.data);
    });
    assert.ok(notCapable, message);
    const err = new Deno.errors.NotCapable(message);
    const text = errorMessage(err);
    assert.equal(
      text,
      "may not read /etc/hostname (name it in the settings, or allow it with " +
        "IATP_ALLOW_READ=/etc/hostname)",
    );
    assert.doesNotMatch(text, /--allow/);
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
});

Deno.test("refusalText: write, other kinds, and text that is no refusal", () => {
  assert.equal(
    refusalText('Requires write access to "/srv/a b.db", run again with the --allow-write flag'),
    "may not write /srv/a b.db (name it in the settings, or allow it with " +
      "IATP_ALLOW_WRITE=/srv/a b.db)",
  );
  assert.equal(
    refusalText('Requires net access to "10.0.0.1:80", run again with the --allow-net flag'),
    "net access to 10.0.0.1:80 is not granted to this command",
  );
  assert.equal(refusalText("disk full"), "disk full");
});
