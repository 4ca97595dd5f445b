/**
 * The predicted member name (core/pii/secrets.ts): a name compared whole instead of walked must
 * give the scan the full walk gives, at the ends of the text and whatever the bytes are held in.
 */
import assert from "node:assert/strict";
import { scanPii, scrubJsonText } from "../../../core/pii/mod.ts";
import { scanUtf8 } from "../../../core/pii/scan.ts";

const enc = new TextEncoder();
const secretKey = (k: string) => /pass|token|secret/i.test(k);

Deno.test("a short predicted name at the end of an exactly sized body is compared in bounds", () => {
  // The name repeats, so it is predicted; the body ends right after its colon (truncated JSON),
  // in a buffer that ends there too, as the sidecar hands over a request body.
  for (const name of ["", "a", "ab", "abc"]) {
    const text = `[{"${name}":1},{"${name}":1},{"${name}":`;
    const bytes = enc.encode(text);
    const fast = scanUtf8(bytes, bytes.length, { json: true, secretKey }, true, true);
    const full = scanUtf8(bytes, bytes.length, { json: true, secretKey }, true, false);
    assert.deepEqual(fast, full, text);
    assert.equal(scanPii(text, { json: true, secretKey }, bytes).spans.length, 0);
    assert.equal(scrubJsonText(text, undefined, bytes).text, text);
  }
});
