/** The leaves of a config shape: each field with its dotted key, env var and flag. @module */
import type { Field, Section, Shape } from "./fields.ts";

/** One field of a shape, where it sits and what it is called on the command line and in env. */
export interface Leaf {
  key: string;
  path: string[];
  field: Field<unknown>;
  env: string | undefined;
  flag: string | undefined;
}

function kebab(s: string): string {
  return s.replace(/_/g, "-").replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

function isSection(node: Field<unknown> | Section<Shape>): node is Section<Shape> {
  return node.kind === "section";
}

/** Every field of `shape`, depth first, with derived env (`<prefix>A_B`) and flag (`a-b`) names. */
export function leaves(shape: Shape, prefix: string[], envPrefix: string, out: Leaf[]): Leaf[] {
  for (const [name, node] of Object.entries(shape)) {
    const path = [...prefix, name];
    if (isSection(node)) {
      leaves(node.fields, path, envPrefix, out);
      continue;
    }
    const key = path.join(".");
    const derivedEnv = envPrefix + path.map((p) => kebab(p).replace(/-/g, "_")).join("_")
      .toUpperCase();
    out.push({
      key,
      path,
      field: node,
      env: node.env === false ? undefined : node.env ?? derivedEnv,
      flag: node.flag === false ? undefined : node.flag ?? path.map(kebab).join("-"),
    });
  }
  return out;
}
