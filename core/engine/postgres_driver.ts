/**
 * The `postgres` npm client, for connectPostgres to import by a computed specifier
 * ({@linkcode loadDriver}) with its first connection. A string-literal `import("postgres")`
 * would make Deno read the package's registry data and start its npm resolution when any service
 * that reaches core/engine starts (about 1 MB of an idle audit service on SQLite). Nothing
 * imports this file by a static or string-literal import (tests/architecture_test.ts); a
 * compiled binary embeds it and the client with core/ (scripts/compile).
 * @module
 */
export { default } from "postgres";
