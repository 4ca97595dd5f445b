/**
 * The `redis` npm client, for connectRedis to import by a computed specifier
 * ({@linkcode loadDriver}) with its first connection, so that Deno reads the package's registry
 * data only in a process that connects to Redis. Nothing imports this file by a static or
 * string-literal import (tests/architecture_test.ts); a compiled binary embeds it and the client
 * with core/ (scripts/compile).
 * @module
 */
export { createClient } from "redis";
