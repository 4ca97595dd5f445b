/**
 * Settings of the action agent's JetStream task queue (`relay.queue*` and the `nats` section):
 * the engine's servers, the group of agents sharing the queue, and how long a silent task is
 * held before another agent gets it.
 * @module
 */
import { duration, str } from "../config/mod.ts";

/** The `relay.queue*` fields of the action agent. */
export function queueFields() {
  return {
    queue: str({
      help: "nats://HOST:4222[,HOST2...]: take relay tasks from the relay's JetStream stream " +
        "through a queue shared by the agents of relay.queue_group (the relay runs with " +
        "--store on the same servers); unset: subscribe to the relay",
      pattern: /^(nats|tls):\/\/.+$/,
    }),
    queue_group: str({
      help: "agents sharing one queue: each task published to action.tasks.<group> goes to " +
        "one of them (default: agent.id)",
      pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    }),
    queue_ack_wait: duration({
      help: "a task an agent took is given to another agent of the group when the first one " +
        "has not said it is still working on it for this long (it says so while alive)",
      default: 30_000,
      min: 1_000,
    }),
    queue_stream: str({
      help: "the relay's JetStream stream the tasks are taken from (the relay's --stream)",
      default: "IATP_RELAY",
      pattern: /^[A-Za-z0-9_-]{1,64}$/,
    }),
    queue_subjects: str({
      help: "the relay's subject prefix (the relay's --stream-subjects)",
      default: "relay",
      pattern: /^[A-Za-z0-9_-]{1,32}(\.[A-Za-z0-9_-]{1,32}){0,3}$/,
    }),
  };
}
