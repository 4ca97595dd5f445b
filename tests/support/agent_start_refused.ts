// Starts a host agent in this process (`status` or `compose-agent`, from argv[0]) from a partial
// config given as JSON (argv[1]), and prints "refused: <message>" when its start is refused. It
// never calls Deno.exit: the process ends only when nothing the refused start opened is left
// running (a Vault key's refresh timer, a probe, a socket), which is what the tests hold it to.
import { command as composeAgent } from "../../cmd/compose_agent.ts";
import { command as status } from "../../cmd/status.ts";

const [which, json] = Deno.args;
const start = () =>
  which === "status"
    ? status.start(status.resolve(JSON.parse(json)))
    : composeAgent.start(composeAgent.resolve(JSON.parse(json)));
try {
  const svc = await start();
  console.log("started");
  await svc.close();
} catch (err) {
  console.log(`refused: ${err instanceof Error ? err.message : String(err)}`);
}
