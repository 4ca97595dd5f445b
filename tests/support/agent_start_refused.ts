// Starts a host agent in this process (`status` or `compose-agent`, from argv[0]) from a partial
// config given as JSON (argv[1]), and prints "refused: <message>" when its start is refused. It
// never calls Deno.exit: the process ends only when nothing the refused start opened is left
// running (a Vault key's refresh timer, a probe, a socket), which is what the tests hold it to.
// Only the agent started is loaded (by a computed specifier): the compose-agent's modules
// (core/docker among them) would otherwise be in every status agent this starts.
type Status = typeof import("../../cmd/status.ts");
type ComposeAgent = typeof import("../../cmd/compose_agent.ts");

const load = <T>(path: string): Promise<T> => import(new URL(path, import.meta.url).href);
const [which, json] = Deno.args;
const start = async () => {
  if (which === "status") {
    const { command } = await load<Status>("../../cmd/status.ts");
    return command.start(command.resolve(JSON.parse(json)));
  }
  const { command } = await load<ComposeAgent>("../../cmd/compose_agent.ts");
  return command.start(command.resolve(JSON.parse(json)));
};
try {
  const svc = await start();
  console.log("started");
  await svc.close();
} catch (err) {
  console.log(`refused: ${err instanceof Error ? err.message : String(err)}`);
}
