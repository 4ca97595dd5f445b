/**
 * Build identity: version from deno.json, git commit from a build-info file written by
 * scripts/compile or from the checkout's .git, and the Deno version.
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };

/** The iatp version. */
export const VERSION: string = denoJson.version;

const ROOT = new URL("../../", import.meta.url);

function tryRead(url: URL): string | undefined {
  try {
    return Deno.readTextFileSync(url).trim();
  } catch {
    return undefined;
  }
}

/** The git commit this build came from, or "unknown". */
function gitCommit(): string {
  const info = tryRead(new URL("build-info.json", ROOT));
  if (info) {
    try {
      const commit = JSON.parse(info).commit;
      if (typeof commit === "string" && commit) return commit;
    } catch { /* fall through to .git */ }
  }
  const head = tryRead(new URL(".git/HEAD", ROOT));
  if (!head) return "unknown";
  if (!head.startsWith("ref: ")) return head;
  const ref = head.slice(5);
  const loose = tryRead(new URL(`.git/${ref}`, ROOT));
  if (loose) return loose;
  const packed = tryRead(new URL(".git/packed-refs", ROOT));
  const line = packed?.split("\n").find((l) => l.endsWith(` ${ref}`));
  return line ? line.split(" ")[0] : "unknown";
}

/** Version, commit and runtime in one object. */
export function versionInfo(): { version: string; commit: string; deno: string; v8: string } {
  return { version: VERSION, commit: gitCommit(), deno: Deno.version.deno, v8: Deno.version.v8 };
}
