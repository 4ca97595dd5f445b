/**
 * The YAML parser, imported by a computed specifier when a config file is read (file.ts): a
 * string-literal `import("yaml")` made Deno read the package's registry data at every start.
 * @module
 */
export { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
