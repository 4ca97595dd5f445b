/**
 * The sample configs in the docs are valid: a YAML block marked `<!-- config-check: COMMAND
 * [NAME=VALUE]... -->` before its fence (blank lines between) is written to a folder outside the checkout
 * and passed to `iatp config check COMMAND FILE` through the launcher, with those env vars set
 * (the secrets a sample takes from the environment). A sample that no longer parses, names a
 * setting that does not exist or misses a required one fails here.
 * @module
 */
import assert from "node:assert/strict";
import { ROOT, runIatp, tempDir } from "./helpers.ts";

const MARKER = /^<!--\s*config-check:\s*([a-z][a-z-]*)((?:\s+[A-Z][A-Z0-9_]*=\S+)*)\s*-->$/;

interface Sample {
  page: string;
  line: number;
  command: string;
  env: Record<string, string>;
  yaml: string;
}

async function samples(): Promise<Sample[]> {
  const pages = ["README.md"];
  for await (const e of Deno.readDir(`${ROOT}docs`)) {
    if (e.isFile && e.name.endsWith(".md")) pages.push(`docs/${e.name}`);
  }
  const out: Sample[] = [];
  for (const page of pages.sort()) {
    const lines = (await Deno.readTextFile(`${ROOT}${page}`)).split("\n");
    lines.forEach((text, i) => {
      const m = MARKER.exec(text.trim());
      if (!m) return;
      let start = i + 1;
      while (start < lines.length && lines[start].trim() === "") start++;
      assert.equal(
        lines[start],
        "```yaml",
        `${page}:${i + 1}: config-check must precede a yaml fence`,
      );
      let end = start + 1;
      while (end < lines.length && !lines[end].startsWith("```")) end++;
      const env: Record<string, string> = {};
      for (const pair of m[2].trim().split(/\s+/).filter(Boolean)) {
        const eq = pair.indexOf("=");
        env[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      out.push({
        page,
        line: i + 1,
        command: m[1],
        env,
        yaml: lines.slice(start + 1, end).join("\n"),
      });
    });
  }
  return out;
}

Deno.test("every sample config marked in the docs passes iatp config check", async () => {
  const found = await samples();
  assert.ok(found.length >= 2, "the agents' sample configs are marked");
  const dir = await tempDir("iatp-doc-configs-");
  try {
    for (const [i, s] of found.entries()) {
      const file = `${dir.path}/${i}-${s.command}.yaml`;
      await Deno.writeTextFile(file, s.yaml + "\n");
      const r = await runIatp(["config", "check", s.command, file], {
        env: { ...s.env, IATP_ALLOW_READ: dir.path },
        cwd: dir.path,
      });
      assert.equal(r.code, 0, `${s.page}:${s.line} (${s.command}): ${r.stderr}${r.stdout}`);
      assert.match(r.stdout, /is a valid/);
    }
  } finally {
    await dir.remove();
  }
});
