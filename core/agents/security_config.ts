/**
 * The `security` section both agents declare (Stavily's schema): TLS to the orchestrator, how
 * the bearer token is obtained, the plugin sandbox bounds, and the hash-chained audit trail.
 * @module
 */
import { bool, bytes, duration, int, list, oneOf, path, section, str, url } from "../config/mod.ts";
import { auditFlushField, auditTimeoutField } from "../ledger/client/settings/mod.ts";

/** The fields of the `security` section. */
export const securityShape = {
  tls: section({
    enabled: bool({
      help: "Stavily's TLS switch: must not be false in prod (TLS is used whenever a URL is https)",
    }),
    cert_file: path({ help: "client certificate (PEM) for mTLS", access: "read" }),
    key_file: path({ help: "client key (PEM) for mTLS", access: "read" }),
    ca_file: path({ help: "CA bundle (PEM) trusted for the orchestrator", access: "read" }),
    min_version: oneOf(["1.2", "1.3"], { help: "lowest TLS version", default: "1.2" }),
  }),
  auth: section({
    method: oneOf(["api_key", "jwt"], {
      help: "how the bearer token is obtained",
      default: "api_key",
    }),
    api_key: str({
      help: "bearer token for the orchestrator, or file:PATH",
      secret: true,
      fileRef: true,
    }),
    token_file: path({
      help: "file holding the bearer token (re-read when it changes)",
      access: "read",
    }),
  }),
  sandbox: section({
    max_memory: bytes({ help: "largest plugin memory limit accepted", default: 512 * 1024 ** 2 }),
    max_exec_time: duration({ help: "longest plugin call accepted", default: 300_000, min: 100 }),
    allowed_paths: list({
      help: "absolute paths plugins may be granted (prefixes); a plugin asking for more is refused",
      default: ["/proc", "/sys"],
      // A relative entry would be judged against whatever folder the agent was started in.
      item: /^\//,
      itemWhat: "absolute paths",
    }),
    network_access: bool({ help: "whether plugins may be granted network access", default: false }),
  }),
  audit: section({
    enabled: bool({ help: "write the hash-chained audit trail", default: true }),
    log_file: path({
      help: "audit file, rotated to <file>.1 ... <file>.<max_files>; " +
        "default <base>/logs/audit/audit.jsonl",
      default: "",
      access: "write",
      grants: () => [], // with its rotations: the spec's grants
    }),
    max_file_bytes: bytes({
      help: "audit file size before rotation",
      default: 64 * 1024 ** 2,
      min: 4096,
    }),
    max_files: int({ help: "rotated audit files kept", default: 10, min: 1, max: 1000 }),
    lock_timeout: duration({
      help: "longest wait for <file>.lock held by another agent sharing the trail; " +
        "the record is then not written",
      default: 10_000,
      min: 10,
    }),
    service_url: url({
      help: "iatp audit service to copy entries to (unset: none)",
      flag: "audit-url",
    }),
    token: str({
      help: "credential for the audit service (audit:append), or file:PATH",
      secret: true,
      fileRef: true,
      flag: "audit-token",
    }),
    timeout: auditTimeoutField({ flag: "audit-timeout" }),
    flush_timeout: auditFlushField({ flag: "audit-flush-timeout" }),
  }),
};
