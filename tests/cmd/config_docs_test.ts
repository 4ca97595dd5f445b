/** docs/configuration.md is what the config declarations render today. */
import assert from "node:assert/strict";
import { COMMANDS } from "../../cmd/mod.ts";
import { CONFIGURATION_DOC, renderedDoc } from "../../scripts/config_docs.ts";

Deno.test("docs/configuration.md is up to date (run scripts/config_docs.ts)", async () => {
  const want = await renderedDoc();
  const have = await Deno.readTextFile(CONFIGURATION_DOC);
  assert.ok(have === want, "docs/configuration.md is stale: deno run -A scripts/config_docs.ts");
});

Deno.test("the page names every env var and flag of every command", async () => {
  const page = await Deno.readTextFile(CONFIGURATION_DOC);
  for (const entry of COMMANDS) {
    const declared = (await entry.load()).spec;
    for (const name of declared?.envNames() ?? []) assert.ok(page.includes(name), name);
    for (const leaf of declared?.leaves() ?? []) {
      if (!leaf.flag) continue;
      const flag = leaf.field.boolean ? `--[no-]${leaf.flag}` : `--${leaf.flag} `;
      assert.ok(page.includes(flag), `${entry.name} ${flag}`);
    }
  }
});

Deno.test("the page has a section for `iatp audit verify`, naming its every env var and flag", async () => {
  const page = await Deno.readTextFile(CONFIGURATION_DOC);
  const { verifySpec } = await import("../../cmd/audit/verify.ts");
  assert.ok(page.includes("\n## audit verify\n"), "no section for audit verify");
  const section = page.slice(page.indexOf("\n## audit verify\n"));
  for (const name of verifySpec.envNames()) assert.ok(section.includes(name), name);
  for (const leaf of verifySpec.leaves()) {
    if (leaf.flag) assert.ok(section.includes(`--${leaf.flag} `), leaf.flag);
  }
});
