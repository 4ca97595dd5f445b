/**
 * Fields every HTTP service shares: bind address, port, body limit, drain deadline, log level.
 * @module
 */
import { DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_MAX_BODY_BYTES } from "../http/mod.ts";
import { LEVELS } from "../log/mod.ts";
import { bytes, duration, oneOf, port, str } from "./fields.ts";

/** The shared service fields, with the service's default port. */
export function serviceFields(defaultPort: number) {
  return {
    host: str({ help: "address to listen on", default: "127.0.0.1" }),
    port: port({ help: "TCP port to listen on (0 picks a free one)", default: defaultPort }),
    max_body_bytes: bytes({
      help: "largest request body accepted (413 above)",
      default: DEFAULT_MAX_BODY_BYTES,
      min: 1,
    }),
    drain_timeout: duration({
      help: "how long shutdown waits for in-flight requests",
      default: DEFAULT_DRAIN_TIMEOUT_MS,
    }),
    log_level: oneOf(LEVELS, { help: "lowest log level written", default: "info" }),
  };
}
