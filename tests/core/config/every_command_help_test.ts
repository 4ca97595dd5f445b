/**
 * The `--help` of every subcommand: flag and help columns are always separated, and every
 * default the usage prints is accepted back by its flag and gives that default.
 * @module
 */
import assert from "node:assert/strict";
import { COMMANDS } from "../../../cmd/mod.ts";

/** A flag row's first column: `--[no-]x`, `--x META`, `-h, --help`, `(file) a.b`. */
const LEFT = /^ {2}(--\[no-\][\w-]+|--[\w-]+(?: \S+)?|-h, --help|\(file\) [\w.]+)(.*)$/;

/** Rows whose first column runs straight into the second (fewer than two spaces between). */
function gluedRows(usage: string): string[] {
  const bad: string[] = [];
  for (const line of usage.split("\n")) {
    const m = LEFT.exec(line);
    if (m && m[2] !== "" && !m[2].startsWith("  ")) bad.push(line);
  }
  return bad;
}

/** The text the usage prints after `default` on the flag's row (or its continuation). */
function printedDefault(usage: string, flag: string): string | undefined {
  const lines = usage.split("\n");
  const at = lines.findIndex((l) =>
    l.startsWith(`  --${flag} `) || l === `  --${flag}` ||
    l.startsWith(`  --[no-]${flag} `) || l === `  --[no-]${flag}`
  );
  if (at < 0) return undefined;
  const row = lines[at].endsWith("]") ? lines[at] : lines[at + 1];
  return /\[(?:env \S+(?: or \S+)* {2})?default (.*)\]$/.exec(row)?.[1];
}

/** A printed value as a shell would pass it: JSON-quoted text loses its quotes. */
function asArgument(printed: string): string {
  return printed.startsWith('"') ? JSON.parse(printed) : printed;
}

Deno.test("every --help keeps its columns apart", async () => {
  const glued: string[] = [];
  for (const entry of COMMANDS) {
    const usage = (await entry.load()).usage();
    assert.ok(usage.length > 0, entry.name);
    for (const line of gluedRows(usage)) glued.push(`${entry.name}: ${line}`);
  }
  assert.deepEqual(glued, []);
});

Deno.test("every default --help prints is accepted back by its flag", async () => {
  let checked = 0;
  for (const entry of COMMANDS) {
    const command = await entry.load();
    if (!command.spec) continue;
    const usage = command.usage();
    for (const leaf of command.spec.leaves()) {
      const f = leaf.field;
      if (!leaf.flag || f.secret || f.default === undefined) continue;
      const printed = printedDefault(usage, leaf.flag);
      assert.ok(printed, `${entry.name} --${leaf.flag}: no default printed`);
      const where = `${entry.name} --${leaf.flag} ${printed}`;
      const parsed = f.schema.safeParse(f.coerce(asArgument(printed)));
      assert.ok(parsed.success, `${where}: refused`);
      assert.deepEqual(parsed.data, f.default, `${where}: a different value`);
      checked++;
    }
  }
  assert.ok(checked > 100, `only ${checked} defaults checked`);
});

Deno.test("the checks catch a glued row and an unreadable default", () => {
  assert.deepEqual(gluedRows("  --max-header-fields Nmost header fields"), [
    "  --max-header-fields Nmost header fields",
  ]);
  assert.deepEqual(gluedRows("  --port N one space"), ["  --port N one space"]);
  assert.deepEqual(gluedRows("  --port N  TCP port  [default 8005]"), []);
  assert.equal(printedDefault("  --ttl DURATION  x  [default 30000]", "ttl"), "30000");
  assert.equal(asArgument('"a,b"'), "a,b");
});
