/**
 * The `postgres` client (./vendor/postgres: the npm package's source as plain modules, patched),
 * for connectPostgres to import by a computed specifier ({@linkcode loadDriver}) with its first
 * connection, so that only a process that connects to PostgreSQL loads it (a string-literal
 * `import()` would have Deno read the client's files into the graph it builds when any service
 * that reaches core/engine starts). Nothing imports this file by a static or string-literal import
 * (tests/architecture_test.ts); a compiled binary embeds it and the client with core/
 * (scripts/compile, which checks that the client is in the binary).
 * @module
 */
// @ts-types="./vendor/postgres/types/index.d.ts"
export { default } from "./vendor/postgres/src/index.js";
