/**
 * The YAML parser's part the config file reader uses, imported by a computed specifier (see
 * late_import.ts) with the first config file: a string-literal `import("yaml")` would make Deno
 * read the package's registry data at every start.
 * @module
 */
export { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
