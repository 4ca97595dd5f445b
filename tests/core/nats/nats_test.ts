/**
 * core/nats without a server: the server list of a `nats://` URL, the URL shown in logs (no
 * credentials), topic names as subject tokens and back, and which errors count as an outage
 * (the client's own errors once it is loaded), and which setting a refusal of credentials names.
 * @module
 */
import assert from "node:assert/strict";
import {
  credentialsError,
  displayUrl,
  EngineUnavailableError,
  isEngineOutage,
  jetStreamApiCode,
  loadNatsClient,
  natsServers,
  NatsUrlError,
  patternSubject,
  splitUrlCredentials,
  subjectTopic,
  topicSubject,
  UrlCredentialsError,
} from "../../../core/nats/mod.ts";
import { freePort, runIatp, tempDir } from "../../helpers.ts";

Deno.test("natsServers splits a list, fills the scheme, refuses what is not a server", () => {
  assert.deepEqual(natsServers("nats://10.0.0.1:4222, 10.0.0.2:4223,nats://h3"), [
    "nats://10.0.0.1:4222",
    "nats://10.0.0.2:4223",
    "nats://h3",
  ]);
  assert.deepEqual(natsServers("tls://a:4222,b"), ["tls://a:4222", "tls://b"]);
  assert.deepEqual(natsServers("nats://u:p@h:4222"), ["nats://u:p@h:4222"]);
  for (const bad of ["", "http://h:4222", "nats://h:99999", "nats://h/path", "nats://h,b c"]) {
    assert.throws(() => natsServers(bad), Error, bad);
  }
  // The refusal shows the item without its password.
  assert.throws(() => natsServers("nats://u:secret@h:0"), (e: Error) => !/secret/.test(e.message));
});

Deno.test("displayUrl drops user:password@ from every server of a list", () => {
  assert.equal(
    displayUrl("nats://app:s3cret@10.0.0.1:4222,nats://x@10.0.0.2:4222"),
    "nats://10.0.0.1:4222,nats://10.0.0.2:4222",
  );
  assert.equal(displayUrl("nats://10.0.0.1:4222"), "nats://10.0.0.1:4222");
  // A password with an unencoded `/` (base64 has them) is dropped too, the scheme kept.
  assert.equal(displayUrl("nats://app:12/s3cret@10.0.0.1:4222"), "nats://10.0.0.1:4222");
  assert.equal(displayUrl("tls://a:4222,app:x/s3cret@b:4222"), "tls://a:4222,b:4222");
  assert.equal(displayUrl("app:x/s3cret@b:4222"), "b:4222");
  // natsServers trims the items of a list: so does the display.
  assert.equal(displayUrl("nats://a:4222, app:s3cret@b:4222"), "nats://a:4222, b:4222");
  // natsServers refuses such an item (a user info holds no `/`) without showing its password,
  // nor a password cut at an unencoded `,` (the list's separator).
  for (const url of ["nats://app:12/s3cret@h:4222", "nats://app:s3,cret@h:4222"]) {
    assert.throws(() => natsServers(url), (e: Error) => !/s3/.test(e.message), url);
    assert.throws(() => natsServers(url), NatsUrlError, "percent-encode");
  }
  // Nor does the display of such a list, which the config error of the setting quotes: the part
  // of a password before an unencoded `,` or a space is not a server, and the list is not shown.
  for (const url of ["nats://app:s3,cret@h:4222", "tls://h:1,app:x s3cret@b:4222"]) {
    assert.doesNotMatch(displayUrl(url), /s3/, url);
    assert.match(displayUrl(url), /^(nats|tls):\/\/\(URL not shown: .*percent-encode/, url);
  }
});

Deno.test("topic names map to subject tokens and back, empty tokens included", () => {
  for (const topic of ["access.intent", "a..b", "x.", ".y", "a:b-c_d", "..", "single"]) {
    const subject = topicSubject("relay", topic);
    assert.doesNotMatch(subject, /\.\.|\.$|[\s*>]/, subject);
    assert.equal(subjectTopic("relay", subject), topic);
  }
  assert.equal(topicSubject("relay", "a..b"), "relay.a.~.b");
  assert.equal(subjectTopic("relay", "other.a"), undefined);
  assert.equal(patternSubject("relay", "*"), "relay.>");
  assert.equal(patternSubject("relay", "action.tasks.*"), "relay.action.tasks.>");
  assert.equal(patternSubject("relay", "a"), "relay.a");
});

Deno.test("an outage is told from a refusal, through causes", () => {
  assert.ok(isEngineOutage(new EngineUnavailableError("nats://h:4222: connection refused")));
  assert.ok(
    isEngineOutage(new Error("wrapped", { cause: new EngineUnavailableError("gone") })),
  );
  assert.ok(!isEngineOutage(new Error("bad input")));
  assert.ok(!isEngineOutage("not an error"));
});

Deno.test("once a connection loaded the client, its own errors are told apart too", async () => {
  const { transport, jetstream } = await loadNatsClient();
  assert.equal(await loadNatsClient(), await loadNatsClient());
  assert.ok(isEngineOutage(new Error("wrapped", { cause: new transport.TimeoutError() })));
  assert.ok(isEngineOutage(new transport.NoRespondersError("relay.x")));
  assert.ok(!isEngineOutage(new Error("bad input")));
  const refused = new jetstream.JetStreamApiError({
    code: 400,
    err_code: 10071,
    description: "wrong last sequence: 7",
  });
  assert.equal(jetStreamApiCode(refused), 10071);
  assert.ok(!isEngineOutage(refused));
  assert.equal(jetStreamApiCode(new Error("wrong last sequence: 7")), undefined);
});

Deno.test("splitUrlCredentials takes user:password@ or token@ out of the servers, decoded", () => {
  assert.deepEqual(splitUrlCredentials(["nats://app:s%40c%2Fret@h:4222", "nats://h2:4222"]), {
    servers: ["nats://h:4222", "nats://h2:4222"],
    credentials: { user: "app", pass: "s@c/ret" },
  });
  assert.deepEqual(splitUrlCredentials(["tls://t0k%3Aen@h"]), {
    servers: ["tls://h"],
    credentials: { token: "t0k:en" },
  });
  assert.deepEqual(splitUrlCredentials(["nats://h:4222"]), {
    servers: ["nats://h:4222"],
    credentials: undefined,
  });
  assert.throws(
    () => splitUrlCredentials(["nats://app:50%off@h"]),
    (e: Error) =>
      e instanceof UrlCredentialsError && /percent-encoded/.test(e.message) &&
      !/50%off/.test(e.message),
  );
});

Deno.test("refused credentials name the nats setting that gave them, never the secret", async () => {
  const { transport } = await loadNatsClient();
  const url = "nats://127.0.0.1:4222";
  const refused = new EngineUnavailableError(`${url}: Authorization Violation`, {
    cause: new transport.AuthorizationError("Authorization Violation"),
  });
  const base = { url, name: "t", timeoutMs: 1_000 };
  const named = (s: Parameters<typeof credentialsError>[1]) => credentialsError(refused, s)?.key;
  assert.equal(named({ ...base, user: "u", password: "pw-secret-1" }), "nats.password");
  assert.equal(named({ ...base, token: "tok-secret-1" }), "nats.token");
  assert.equal(named({ ...base, creds: "/x.creds", user: "u", password: "p" }), "nats.creds");
  // Credentials in the URL (or none): the URL's own setting is named by the caller.
  assert.equal(named({ ...base, url: "nats://u:pw@127.0.0.1:4222" }), undefined);
  assert.equal(named(base), undefined);
  const err = credentialsError(refused, { ...base, user: "u", password: "pw-secret-1" });
  assert.match(err?.message ?? "", /^nats\.password \(.*127\.0\.0\.1:4222.*Authorization/);
  assert.doesNotMatch(err?.message ?? "", /pw-secret-1/);
  const other = new EngineUnavailableError(`${url}: connection refused`);
  assert.equal(credentialsError(other, { ...base, user: "u", password: "p" }), undefined);
});

Deno.test("a .creds file the client cannot use is a config error naming nats.creds, not the server", async () => {
  const dir = await tempDir();
  try {
    const files = {
      "markers.creds": "garbage s3cret-stuff with no markers\n",
      "seed.creds": "-----BEGIN NATS USER JWT-----\ns3cret-jwt\n------END NATS USER JWT------\n\n" +
        "-----BEGIN USER NKEY SEED-----\nSUAs3cret-seed\n------END USER NKEY SEED------\n",
    };
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir.path}/${name}`, text);
      const r = await runIatp([
        "relay",
        "--port",
        "0",
        "--store",
        `nats://127.0.0.1:${freePort()}`,
        "--nats-creds",
        `${dir.path}/${name}`,
      ], { timeoutMs: 20_000 });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /nats\.creds .*expected a \.creds file holding a user JWT/, name);
      assert.ok(r.stderr.includes(`${dir.path}/${name}`), r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /s3cret/, name);
    }
  } finally {
    await dir.remove();
  }
});
