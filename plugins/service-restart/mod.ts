/**
 * service-restart: restarts one service. The name must match `^[a-zA-Z0-9._-]+$`, be at most
 * 100 characters and be in `allowed_services`; the only command run is the configured manager
 * (the manifest grants exactly that one).
 * @module
 */
import type { PluginContext } from "../sdk.ts";

interface Config {
  manager: "systemctl" | "service" | "docker";
  allowed_services: string[];
  command_timeout_ms: number;
}

/** Most characters of the manager's stdout/stderr returned. */
const MAX_CAPTURE = 4000;
const NAME = /^[a-zA-Z0-9._-]+$/;

function argv(manager: Config["manager"], name: string): string[] {
  // A leading "-" would be read as an option by the manager; the pattern allows it, so refuse.
  if (manager === "systemctl") return ["restart", "--", name];
  if (manager === "service") return [name, "restart"];
  return ["restart", "--", name];
}

/** Validates the request and restarts the service. */
export async function execute(
  ctx: PluginContext<Config>,
  request: { service_name?: unknown },
): Promise<Record<string, unknown>> {
  const name = request?.service_name;
  if (typeof name !== "string" || !NAME.test(name) || name.length > 100 || name.startsWith("-")) {
    throw new Error("service_name: expected ^[a-zA-Z0-9._-]+$, at most 100 characters");
  }
  if (!ctx.config.allowed_services.includes(name)) {
    throw new Error(`service_name: ${name} is not in allowed_services`);
  }
  const { manager, command_timeout_ms } = ctx.config;
  ctx.log.info("restarting service", { service_name: name, manager });
  const out = await new Deno.Command(manager, {
    args: argv(manager, name),
    stdin: "null",
    signal: AbortSignal.timeout(command_timeout_ms),
  }).output();
  const dec = new TextDecoder();
  const result = {
    service_name: name,
    manager,
    exit_code: out.code,
    stdout: dec.decode(out.stdout).slice(0, MAX_CAPTURE),
    stderr: dec.decode(out.stderr).slice(0, MAX_CAPTURE),
  };
  if (out.code !== 0) {
    throw new Error(`${manager} exited with ${out.code}: ${result.stderr.trim().slice(0, 500)}`);
  }
  return result;
}
