/**
 * Writes docs/configuration.md from the config declarations (cmd/config_docs.ts renders it,
 * `deno fmt` aligns it); tests/cmd/config_docs_test.ts fails when the committed page is stale.
 *
 * Usage: deno run -A scripts/config_docs.ts
 * @module
 */
import { fileURLToPath } from "node:url";
import { COMMANDS } from "../cmd/mod.ts";
import { configurationDoc } from "../cmd/config_docs.ts";

/** Where the page lives. */
export const CONFIGURATION_DOC = fileURLToPath(
  new URL("../docs/configuration.md", import.meta.url),
);

/**
 * Markdown as `deno fmt` writes it (tables aligned), so the page stays fmt-clean.
 * @throws {Error} when `deno fmt` fails
 */
export async function formatMarkdown(text: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", "md", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(`deno fmt: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

/**
 * The page as it should be committed, rendered in a child process with no `IATP_*` variable set
 * (defaults such as the data folder follow `IATP_DATA_DIR`, which must not leak into the page).
 * @throws {Error} when rendering or `deno fmt` fails
 */
export async function renderedDoc(): Promise<string> {
  const keep = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"];
  const env = Object.fromEntries(
    keep.flatMap((k) => Deno.env.get(k) !== undefined ? [[k, Deno.env.get(k)!]] : []),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", fileURLToPath(import.meta.url), "--print"],
    clearEnv: true,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`render: ${new TextDecoder().decode(out.stderr)}`);
  return await formatMarkdown(new TextDecoder().decode(out.stdout));
}

if (import.meta.main) {
  if (Deno.args[0] === "--print") {
    await Deno.stdout.write(new TextEncoder().encode(await configurationDoc(COMMANDS)));
  } else {
    await Deno.writeTextFile(CONFIGURATION_DOC, await renderedDoc());
    console.log(`wrote ${CONFIGURATION_DOC}`);
  }
}
