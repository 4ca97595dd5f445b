/**
 * The compose-agent's deploy allow-list: each thing a compose file may ask of the host is refused
 * (403 naming the field and the setting) unless the operator granted it; against the real dockerd
 * a refused file starts nothing, and the same file deploys once its bind root is granted.
 */
import assert from "node:assert/strict";
import { DockerEngine } from "../../../../core/docker/mod.ts";
import {
  ComposeRunner,
  DEFAULT_DEPLOY_ALLOW,
  type DeployAllow,
  DeployPolicy,
  DockerExecutor,
} from "../../../../core/docker/executor/mod.ts";
import { HttpError } from "../../../../core/errors/mod.ts";
import { silentLogger } from "../../../../core/log/mod.ts";
import { delay, tempDir } from "../../../helpers.ts";
import {
  dockerCli,
  ensureBusyboxImage,
  ensureDockerd,
  uniqueName,
} from "../../../support/dockerd.ts";

const dockerd = await ensureDockerd();
const DIR = "/srv/apps/web";

/** The error `check` throws for `text` (fails the test when it does not throw). */
function refusal(text: string, allow: Partial<DeployAllow> = {}): HttpError {
  try {
    new DeployPolicy({ ...DEFAULT_DEPLOY_ALLOW, ...allow }).check(text, DIR);
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  return assert.fail(`not refused:\n${text}`);
}

const svc = (body: string) => `services:\n  web:\n    image: busybox\n${body}`;

Deno.test("by default every host-reaching field is refused with a 403 naming it and the setting", () => {
  const cases: Array<[string, string, string]> = [
    [svc("    privileged: true\n"), "services.web.privileged", "deploy_allow.privileged"],
    [svc('    privileged: "${P}"\n'), "services.web.privileged", "deploy_allow.privileged"],
    [svc("    network_mode: host\n"), "services.web.network_mode", "deploy_allow.host_namespaces"],
    [
      svc('    network_mode: "container:db"\n'),
      "services.web.network_mode",
      "deploy_allow.host_namespaces",
    ],
    [svc("    pid: host\n"), "services.web.pid", "deploy_allow.host_namespaces"],
    [svc("    ipc: host\n"), "services.web.ipc", "deploy_allow.host_namespaces"],
    [svc("    userns_mode: host\n"), "services.web.userns_mode", "deploy_allow.host_namespaces"],
    [svc("    cap_add: [SYS_ADMIN]\n"), "services.web.cap_add[0]", "deploy_allow.cap_add"],
    [svc("    devices: [/dev/sda]\n"), "services.web.devices", "deploy_allow.devices"],
    [
      svc("    security_opt: [seccomp=unconfined]\n"),
      "services.web.security_opt[0]",
      "deploy_allow.security_opt",
    ],
    [svc("    cgroup_parent: /\n"), "services.web.cgroup_parent", "deploy_allow.security_opt"],
    [svc("    runtime: sysbox-runc\n"), "services.web.runtime", "deploy_allow.security_opt"],
    [svc("    oom_score_adj: -1000\n"), "services.web.oom_score_adj", "deploy_allow.security_opt"],
    [svc('    oom_score_adj: "${A}"\n'), "services.web.oom_score_adj", "deploy_allow.security_opt"],
    [svc("    volumes: [/:/host]\n"), "services.web.volumes[0]", "deploy_allow.bind_roots"],
    [
      svc("    volumes: [/var/run/docker.sock:/s]\n"),
      "services.web.volumes[0]",
      "deploy_allow.bind_roots",
    ],
    [svc("    volumes: [../../..:/up]\n"), "services.web.volumes[0]", "deploy_allow.bind_roots"],
    [svc("    volumes: ['${HOME}:/h']\n"), "services.web.volumes[0]", "deploy_allow.bind_roots"],
    [svc("    volumes: ['~/x:/h']\n"), "services.web.volumes[0]", "deploy_allow.bind_roots"],
    [
      svc("    volumes:\n      - {type: bind, source: /etc, target: /e}\n"),
      "services.web.volumes[0].source",
      "deploy_allow.bind_roots",
    ],
    [svc("    env_file: /etc/shadow\n"), "services.web.env_file[0]", "deploy_allow.bind_roots"],
    [svc("    build: {context: /}\n"), "services.web.build.context", "deploy_allow.bind_roots"],
    // Compose reads the Dockerfile wherever it is, and the build's parse error quotes it.
    [
      svc("    build: {context: ., dockerfile: /etc/shadow}\n"),
      "services.web.build.dockerfile",
      "deploy_allow.bind_roots",
    ],
    [
      svc("    build: {context: ./app, dockerfile: ../../../../etc/shadow}\n"),
      "services.web.build.dockerfile",
      "deploy_allow.bind_roots",
    ],
    [
      svc("    build: {dockerfile: '${HOME}/Dockerfile'}\n"),
      "services.web.build.dockerfile",
      "deploy_allow.bind_roots",
    ],
    [svc("    label_file: /etc/shadow\n"), "services.web.label_file[0]", "deploy_allow.bind_roots"],
    [
      svc("    build: {context: ., ssh: ['default', 'k=/root/.ssh/id_ed25519']}\n"),
      "services.web.build.ssh[1]",
      "deploy_allow.bind_roots",
    ],
    [
      svc("    build: {context: ., cache_to: ['type=local,dest=/etc/cron.d']}\n"),
      "services.web.build.cache_to[0]",
      "deploy_allow.bind_roots",
    ],
    [
      svc("    build: {context: ., cache_from: ['type=local,src=/root']}\n"),
      "services.web.build.cache_from[0]",
      "deploy_allow.bind_roots",
    ],
    [
      svc("") + "networks:\n  default:\n    external: true\n    name: host\n",
      "networks.default",
      "deploy_allow.host_namespaces",
    ],
    [
      svc("") + "networks:\n  host:\n    external: true\n",
      "networks.host",
      "deploy_allow.host_namespaces",
    ],
    [
      svc("    build: {context: ., network: host}\n"),
      "services.web.build.network",
      "deploy_allow.host_namespaces",
    ],
    // The classic builder (compose v1's) runs RUN steps in another container's namespaces.
    [
      svc('    build: {context: ., network: "container:db"}\n'),
      "services.web.build.network",
      "deploy_allow.host_namespaces",
    ],
    [
      svc("    volumes_from: ['container:other']\n"),
      "services.web.volumes_from[0]",
      "deploy_allow.host_namespaces",
    ],
    [
      svc("") + "volumes:\n  root:\n    driver_opts: {type: none, o: bind, device: /}\n",
      "volumes.root.driver_opts.device",
      "deploy_allow.bind_roots",
    ],
    // The daemon, not compose, reads a bind volume's device when compose leaves it relative
    // (`rbind`, `bind,ro`): from the daemon's own folder (`/`), so `etc` is the host's /etc.
    [
      svc("") + 'volumes:\n  r:\n    driver_opts: {type: none, o: "rbind", device: etc}\n',
      "volumes.r.driver_opts.device",
      "deploy_allow.bind_roots",
    ],
    [
      svc("") + 'volumes:\n  r:\n    driver_opts: {type: none, o: "bind,ro", device: ./etc}\n',
      "volumes.r.driver_opts.device",
      "deploy_allow.bind_roots",
    ],
    // The local driver mounts what its options name: an overlay's folders are host paths...
    [
      svc("") + "volumes:\n  o:\n    driver_opts: {type: overlay, device: overlay, " +
      'o: "lowerdir=/etc:/srv/apps/web/a"}\n',
      "volumes.o.driver_opts.o",
      "deploy_allow.bind_roots",
    ],
    [
      svc("") + "volumes:\n  o:\n    driver_opts: {type: overlay, device: overlay, " +
      'o: "lowerdir=/srv/apps/web/a,upperdir=/root/.ssh,workdir=/srv/apps/web/w"}\n',
      "volumes.o.driver_opts.o",
      "deploy_allow.bind_roots",
    ],
    [
      svc("") + 'volumes:\n  o:\n    driver_opts: {type: overlay, o: "lowerdir=etc"}\n',
      "volumes.o.driver_opts.o",
      "deploy_allow.bind_roots",
    ],
    // ... and proc, sysfs or cgroup2 mounted by the daemon are the host's own.
    [
      svc("") + "volumes:\n  p:\n    driver_opts: {type: proc, device: proc}\n",
      "volumes.p.driver_opts.type",
      "deploy_allow.devices",
    ],
    [
      svc("") + "volumes:\n  s:\n    driver_opts: {type: SYSFS, device: x}\n",
      "volumes.s.driver_opts.type",
      "deploy_allow.devices",
    ],
    [
      svc("") + "secrets:\n  k:\n    file: /etc/ssh/ssh_host_ed25519_key\n",
      "secrets.k.file",
      "deploy_allow.bind_roots",
    ],
    [
      svc("    extends: {file: /other.yml, service: x}\n"),
      "services.web.extends",
      "the compose-agent",
    ],
    ["include: [/other.yml]\n" + svc(""), "include", "the compose-agent"],
    // A provider is a program compose runs on the host (the docker-<type> CLI plugin, else
    // <type> on its PATH, a path when it holds a slash), with the file's options as arguments.
    [
      svc("    provider: {type: model, options: {model: ai/smollm2}}\n"),
      "services.web.provider",
      "deploy_allow.providers",
    ],
    [svc("    provider: {type: ./run.sh}\n"), "services.web.provider", "deploy_allow.providers"],
    [svc("    provider: {options: {a: b}}\n"), "services.web.provider", "deploy_allow.providers"],
    [svc("    provider: model\n"), "services.web.provider", "deploy_allow.providers"],
    // Top-level models are handed to the docker model plugin.
    [svc("") + "models:\n  m: {model: ai/smollm2}\n", "models", "deploy_allow.providers"],
    // use_api_socket binds the host's Docker socket in (and compose's registry credentials).
    [svc("    use_api_socket: true\n"), "services.web.use_api_socket", "deploy_allow.privileged"],
    // Hooks: pre_start runs a container of its own, post_start/pre_stop an exec in the service.
    [
      svc("    pre_start: [{image: busybox, command: id, privileged: true}]\n"),
      "services.web.pre_start[0].privileged",
      "deploy_allow.privileged",
    ],
    [
      svc("    post_start:\n      - {command: id}\n      - {command: id, privileged: true}\n"),
      "services.web.post_start[1].privileged",
      "deploy_allow.privileged",
    ],
    [
      svc('    pre_stop: [{command: id, privileged: "true"}]\n'),
      "services.web.pre_stop[0].privileged",
      "deploy_allow.privileged",
    ],
    // Device requests under deploy are GPUs (host devices) as `gpus` is.
    [
      svc(
        "    deploy:\n      resources:\n        reservations:\n          devices:\n" +
          "            - {driver: nvidia, count: all, capabilities: [gpu]}\n",
      ),
      "services.web.deploy.resources.reservations.devices",
      "deploy_allow.devices",
    ],
    [
      svc("    oom_kill_disable: true\n"),
      "services.web.oom_kill_disable",
      "deploy_allow.security_opt",
    ],
    // A logging driver other than the daemon's own files sends the output from the host.
    [
      svc(
        "    logging:\n      driver: splunk\n      options: {splunk-url: 'http://127.0.0.1:5001'}\n",
      ),
      "services.web.logging.driver",
      "deploy_allow.log_drivers",
    ],
    [
      svc("    logging: {driver: syslog, options: {syslog-address: 'unix:///run/x.sock'}}\n"),
      "services.web.logging.driver",
      "deploy_allow.log_drivers",
    ],
    [svc("    log_driver: gelf\n"), "services.web.log_driver", "deploy_allow.log_drivers"],
    // macvlan/ipvlan put containers on a host interface; a bridge named after one joins it.
    [
      svc("") + "networks:\n  lan:\n    driver: macvlan\n    driver_opts: {parent: eth0}\n",
      "networks.lan.driver",
      "deploy_allow.host_namespaces",
    ],
    [
      svc("") + "networks:\n  lan: {driver: ipvlan}\n",
      "networks.lan.driver",
      "deploy_allow.host_namespaces",
    ],
    [
      svc("") + "networks:\n  b:\n    driver_opts: {com.docker.network.bridge.name: docker0}\n",
      "networks.b.driver_opts",
      "deploy_allow.host_namespaces",
    ],
    // Files and folders compose reads from the host, each outside the project.
    [
      svc("    build: {context: ., additional_contexts: {etc: /etc}}\n"),
      "services.web.build.additional_contexts.etc",
      "deploy_allow.bind_roots",
    ],
    [
      svc("    env_file:\n      - {path: ../../other/.env, required: false}\n"),
      "services.web.env_file[0]",
      "deploy_allow.bind_roots",
    ],
    [
      svc("") + "configs:\n  c:\n    file: /etc/passwd\n",
      "configs.c.file",
      "deploy_allow.bind_roots",
    ],
    [
      svc("    extends: {file: ../other/compose.yaml, service: web}\n"),
      "services.web.extends",
      "the compose-agent",
    ],
    ["include:\n  - oci://registry/app:1\n" + svc(""), "include", "the compose-agent"],
    [
      "include:\n  - path: https://github.com/o/r.git\n" + svc(""),
      "include",
      "the compose-agent",
    ],
    // A volume that names an existing one: another project's data, or the agent's own.
    [
      svc("    volumes: [d:/d]\n") + "volumes:\n  d: {external: true, name: iatp_audit}\n",
      "volumes.d",
      "deploy_allow.volumes",
    ],
    [
      svc("") + "volumes:\n  iatp_audit: {external: true}\n",
      "volumes.iatp_audit",
      "deploy_allow.volumes",
    ],
    [svc("") + "volumes:\n  d: {name: iatp_audit}\n", "volumes.d", "deploy_allow.volumes"],
    [svc("") + "volumes:\n  d: {external: {name: other}}\n", "volumes.d", "deploy_allow.volumes"],
    // A merge key brings privileged in from an anchor: it counts as written.
    [
      "x-p: &p {privileged: true}\nservices:\n  web:\n    <<: *p\n    image: busybox\n",
      "services.web.privileged",
      "deploy_allow.privileged",
    ],
  ];
  for (const [text, field, setting] of cases) {
    const e = refusal(text);
    assert.equal(e.status, 403, text);
    assert.equal(e.extra.field, `parameters.compose_file: ${field}`, text);
    assert.equal(e.extra.setting, setting, text);
  }
  assert.equal(refusal("services: [a]\n").status, 400);
  assert.equal(refusal(svc('    volumes: "/:/host"\n')).status, 400, "a list, or nothing");
  assert.equal(refusal("web:\n  image: busybox\n").status, 400, "version 1 files have no services");
});

Deno.test("an existing network is joined only when deploy_allow.networks lists it, however the file names it", () => {
  const nets = (body: string) => svc("    networks: [n]\n") + `networks:\n  n: ${body}\n`;
  const cases: Array<[string, string, string, Partial<DeployAllow>?]> = [
    // Another project's default network, in each spelling compose reads.
    [nets("{external: true, name: shop_default}"), "networks.n", "deploy_allow.networks"],
    [nets("{external: {name: shop_default}}"), "networks.n", "deploy_allow.networks"],
    [nets("{name: shop_default}"), "networks.n", "deploy_allow.networks"],
    [nets("{external: false, name: shop_default}"), "networks.n", "deploy_allow.networks"],
    [
      svc("") + "networks:\n  shop_default: {external: true}\n",
      "networks.shop_default",
      "deploy_allow.networks",
    ],
    [
      svc("") + "networks:\n  default: {external: true, name: shop_default}\n",
      "networks.default",
      "deploy_allow.networks",
    ],
    // Compose fills a variable from the environment or a .env file: not checkable here.
    [nets('{external: true, name: "${NET:-proxy}"}'), "networks.n", "deploy_allow.networks", {
      networks: ["proxy"],
    }],
    [nets('{name: "shop_$${X}"}'), "networks.n", "deploy_allow.networks"],
    // A list of other networks does not grant this one; nor does host_namespaces.
    [nets("{external: true, name: shop_default}"), "networks.n", "deploy_allow.networks", {
      networks: ["proxy"],
      hostNamespaces: true,
    }],
    // network_mode naming an existing network, Docker's default bridge included.
    [svc("    network_mode: shop_default\n"), "services.web.network_mode", "deploy_allow.networks"],
    [svc("    network_mode: bridge\n"), "services.web.network_mode", "deploy_allow.networks"],
    [svc("    network_mode: default\n"), "services.web.network_mode", "deploy_allow.networks"],
    [
      svc("    network_mode: shop_default\n"),
      "services.web.network_mode",
      "deploy_allow.networks",
      {
        hostNamespaces: true,
        networks: ["proxy"],
      },
    ],
    [
      svc('    network_mode: "${MODE}"\n'),
      "services.web.network_mode",
      "deploy_allow.networks",
      { hostNamespaces: true },
    ],
    // Another container's stack: a service that is not this file's is another project's.
    [
      svc('    network_mode: "service:shop-db-1"\n'),
      "services.web.network_mode",
      "deploy_allow.host_namespaces",
    ],
    // A build's steps on an existing network.
    [
      svc("    build: {context: ., network: shop_default}\n"),
      "services.web.build.network",
      "deploy_allow.networks",
    ],
  ];
  for (const [text, field, setting, allow] of cases) {
    const e = refusal(text, allow);
    assert.equal(e.status, 403, text);
    assert.equal(e.extra.field, `parameters.compose_file: ${field}`, text);
    assert.equal(e.extra.setting, setting, text);
    assert.match(e.message, new RegExp(`not allowed by ${setting}`), text);
  }
  assert.match(refusal(nets("{external: true, name: shop_default}")).message, /"shop_default"/);

  const ok = (text: string, allow: Partial<DeployAllow> = {}) =>
    new DeployPolicy({ ...DEFAULT_DEPLOY_ALLOW, ...allow }).check(text, DIR);
  // By default: the project's own networks, no network, a service of the file's stack.
  ok(nets("{}") + "  back: {internal: true}\n");
  ok(svc("    network_mode: none\n"));
  ok(svc("    network_mode: service:db\n") + "  db:\n    image: busybox\n");
  ok(svc("    build: {context: ., network: none}\n"));
  ok(svc("    build: {context: ., network: default}\n"));
  // Listed: every spelling of the same network.
  const proxy = { networks: ["proxy"] };
  ok(nets("{external: true, name: proxy}"), proxy);
  ok(nets("{external: {name: proxy}}"), proxy);
  ok(nets("{name: proxy}"), proxy);
  ok(svc("") + "networks:\n  proxy: {external: true}\n", proxy);
  ok(svc("    network_mode: proxy\n"), proxy);
  ok(svc("    build: {context: ., network: proxy}\n"), proxy);
  ok(svc("    network_mode: bridge\n"), { networks: ["bridge"] });
  ok(svc("    network_mode: default\n"), { networks: ["bridge"] });

  // The networks compose names after the project, which only the daemon can tell are free.
  const own = (text: string, allow: Partial<DeployAllow> = {}) =>
    new DeployPolicy({ ...DEFAULT_DEPLOY_ALLOW, ...allow }).check(text, DIR).projectNetworks;
  assert.deepEqual(own(svc("")), ["default"]);
  assert.deepEqual(
    own(nets("{}") + "  p: {name: proxy}\n  proxy: {external: true}\n", proxy),
    ["default", "n"],
  );
  assert.deepEqual(own(svc("") + "networks:\n  default: {driver: bridge}\n"), ["default"]);
  assert.deepEqual(
    own(svc("") + "networks:\n  default: {external: true, name: proxy}\n", proxy),
    [],
  );
});

Deno.test("what is granted passes; ordinary files pass by default", () => {
  const ok = (text: string, allow: Partial<DeployAllow> = {}) =>
    new DeployPolicy({ ...DEFAULT_DEPLOY_ALLOW, ...allow }).check(text, DIR);
  ok(
    svc("    network_mode: none\n    volumes: [data:/data, ./conf:/conf:ro, /tmp]\n") +
      "volumes:\n  data: {}\n",
  );
  ok(svc("    env_file: .env\n    build: {context: ., additional_contexts: {g: ./g}}\n"));
  ok(
    svc(
      "    env_file: .env\n    build: {context: ., additional_contexts: {g: 'https://x/y.git'}}\n",
    ),
    { hostNamespaces: true },
  );
  ok(
    svc("    security_opt: [no-new-privileges:true]\n    network_mode: 'service:db'\n") +
      "  db:\n    image: busybox\n",
  );
  ok(svc("    build: {context: ./app, dockerfile: ../docker/Dockerfile}\n"));
  ok(svc("") + "networks:\n  front: {}\n  shared: {external: true, name: proxy}\n", {
    networks: ["proxy"],
  });
  ok(svc("") + "networks:\n  default: {external: true, name: host}\n", { hostNamespaces: true });
  ok(
    svc("") +
      "networks:\n  b: {driver: bridge, driver_opts: {com.docker.network.bridge.enable_icc: 'false'}}\n  o: {driver: overlay}\n",
  );
  ok(svc("") + "networks:\n  lan: {driver: macvlan, driver_opts: {parent: eth0}}\n", {
    hostNamespaces: true,
  });
  ok(
    svc(
      "    label_file: ./labels\n    build: {context: ., ssh: [default, 'k=./deploy_key'], " +
        "cache_from: ['type=registry,ref=r/x', 'type=local,src=./cache']}\n",
    ),
  );
  ok(svc("    build: {context: 'https://x/y.git', dockerfile: ../../Dockerfile.prod}\n"), {
    hostNamespaces: true,
  });
  ok(svc("    build: 'git@example.org:o/r.git'\n"), { hostNamespaces: true });
  ok(svc(`    volumes: ["${DIR}/data:/data"]\n`), {});
  ok(svc("    runtime: runc\n    oom_score_adj: 500\n"));
  ok(svc("    cgroup_parent: /\n    runtime: kata\n    oom_score_adj: -1000\n"), {
    securityOpt: true,
  });
  ok(svc("    privileged: true\n"), { privileged: true });
  ok(svc("    pid: host\n"), { hostNamespaces: true });
  ok(svc("    cap_add: [NET_ADMIN, cap_net_raw]\n"), { capAdd: ["NET_ADMIN", "NET_RAW"] });
  ok(svc("    devices: [/dev/fuse]\n"), { devices: true });
  ok(svc("") + "volumes:\n  p:\n    driver_opts: {type: proc, device: proc}\n", { devices: true });
  ok(svc("") + "volumes:\n  d:\n    driver_opts: {type: ext4, device: /dev/sdb1}\n", {
    devices: true,
  });
  ok(
    svc("") + "volumes:\n  t:\n    driver_opts: {type: tmpfs, device: tmpfs, o: size=1m}\n" +
      "  n:\n    driver_opts: {type: nfs, device: ':/export', o: 'addr=10.0.0.2,ro'}\n" +
      "  o:\n    driver_opts: {type: overlay, device: overlay, " +
      'o: "lowerdir=/srv/apps/web/a:/srv/apps/web/b,upperdir=/srv/apps/web/u,workdir=/srv/apps/web/w"}\n',
  );
  ok(svc("    volumes: [/data/shared/x:/x]\n"), { bindRoots: ["/data/shared"] });
  ok(svc("    provider: {type: model, options: {model: ai/smollm2}}\n"), { providers: ["model"] });
  ok(svc("") + "volumes:\n  d: {external: true, name: shared}\n  s: {external: false}\n", {
    volumes: ["shared"],
  });
  ok(svc("") + "volumes:\n  shared: {external: true}\n  e: {}\n", { volumes: ["shared"] });
  ok(svc("    models: [m]\n") + "models:\n  m: {model: ai/smollm2}\n", { providers: ["model"] });
  ok(
    svc("    use_api_socket: true\n    pre_start: [{command: id, privileged: true}]\n"),
    { privileged: true },
  );
  ok(svc("    post_start: [{command: id, user: root}]\n    pre_stop: [{command: id}]\n"));
  ok(svc("    logging: {driver: local, options: {max-size: 10m}}\n    log_driver: json-file\n"));
  ok(svc("    logging: {driver: journald}\n"), { logDrivers: ["journald"] });
  ok(svc("    deploy: {resources: {reservations: {devices: [{capabilities: [gpu]}]}}}\n"), {
    devices: true,
  });
  assert.equal(
    refusal(svc("    provider: {type: model}\n"), { providers: ["docker-model"] }).status,
    403,
    "a type is granted by its exact name",
  );
  assert.equal(
    refusal(svc("    volumes: [/data/sharedother:/x]\n"), { bindRoots: ["/data/shared"] }).status,
    403,
    "a root is a folder, not a prefix",
  );
  assert.equal(
    refusal(svc("    volumes: [/data/shared/../../etc:/x]\n"), { bindRoots: ["/data/shared"] })
      .status,
    403,
  );
});

Deno.test("a host path inside a folder a service mounts writable is refused: its container could make it a symlink", async () => {
  const tmp = await tempDir();
  const project = await Deno.realPath(tmp.path);
  await Deno.mkdir(`${project}/data/sub`, { recursive: true });
  await Deno.symlink("data", `${project}/alias`);
  const check = (body: string, top = "") => {
    try {
      new DeployPolicy(DEFAULT_DEPLOY_ALLOW).check(
        `services:\n  a:\n    image: busybox\n${body}${top}`,
        project,
      );
      return "ok";
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      assert.equal(err.status, 403);
      assert.equal(err.extra.setting, "deploy_allow.bind_roots");
      return String(err.extra.field);
    }
  };
  // A running container of `a` swaps data/evil between a folder and a link to / while the next
  // deploy is checked and mounted: whichever it finds when Docker mounts it is what `b` gets.
  const b = (line: string) => `  b:\n    image: busybox\n${line}`;
  const cases: Array<[string, string]> = [
    [
      '    volumes: ["./data:/data"]\n' + b('    volumes: ["./data/evil:/host"]\n'),
      "services.b.volumes[0]",
    ],
    ['    volumes: ["./:/p"]\n' + b("    env_file: ./data/.env\n"), "services.b.env_file[0]"],
    [
      "    volumes: [{type: bind, source: ./data, target: /d}]\n" +
      b('    volumes: ["./alias/evil:/host"]\n'),
      "services.b.volumes[0]",
    ],
    ['    volumes: ["./data:/data:rw"]\n    build: ./data/ctx\n', "services.a.build"],
  ];
  for (const [body, field] of cases) {
    assert.equal(check(body), `parameters.compose_file: ${field}`, body);
  }
  // Read-only, the same folder, or beside it: no container can write the path.
  assert.equal(
    check('    volumes: ["./data:/data:ro"]\n' + b('    volumes: ["./data/sub:/s"]\n')),
    "ok",
  );
  assert.equal(
    check(
      "    volumes: [{type: bind, source: ./data, target: /d, read_only: true}]\n    env_file: data/.env\n",
    ),
    "ok",
  );
  assert.equal(check('    volumes: ["./data:/data"]\n' + b('    volumes: ["./data:/d2"]\n')), "ok");
  // Whichever service comes first: `b`'s container can swap data/sub before `a` mounts it.
  assert.equal(
    check('    volumes: ["./data/sub:/s"]\n' + b('    volumes: ["./data:/d"]\n')),
    "parameters.compose_file: services.a.volumes[0]",
  );
  await tmp.remove();
});

Deno.test("a host path inside the project is followed through its symlinks as Docker follows them", async () => {
  const tmp = await tempDir();
  const root = await Deno.realPath(tmp.path);
  const project = `${root}/project`;
  const shared = `${root}/shared`;
  await Deno.mkdir(`${project}/real/deeper`, { recursive: true });
  await Deno.mkdir(`${shared}/x`, { recursive: true });
  await Deno.symlink("/etc", `${project}/etc`);
  await Deno.symlink("real", `${project}/inner`);
  await Deno.symlink("../../..", `${project}/real/up`);
  await Deno.symlink("/nonexistent-iatp-target", `${project}/dangling`);
  await Deno.symlink(shared, `${project}/granted`);
  await Deno.symlink("hop2", `${project}/hop1`);
  await Deno.symlink("hop1", `${project}/hop2`);
  await Deno.symlink("inner/deeper", `${project}/chain`);
  await Deno.symlink("etc", `${project}/real/deeper/here`);
  await Deno.symlink("../../etc", `${project}/real/deeper/back`);
  const check = (source: string, allow: Partial<DeployAllow> = {}) => {
    try {
      new DeployPolicy({ ...DEFAULT_DEPLOY_ALLOW, ...allow })
        .check(svc(`    volumes: ["${source}:/x"]\n`), project);
      return "ok";
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      assert.equal(err.status, 403);
      assert.equal(err.extra.setting, "deploy_allow.bind_roots");
      return err.message;
    }
  };
  for (const ok of ["./real", "./inner/deeper", "./chain", "./missing/dir", "./real/deeper/none"]) {
    assert.equal(check(ok), "ok", ok);
  }
  for (const bad of ["./etc", "./etc/shadow", "./real/up", "./inner/up/x", "./dangling"]) {
    assert.match(check(bad), /leads outside the project and every bind root: a symlink/, bad);
  }
  assert.match(check("./hop1"), /more than 40 symlinks/);
  assert.match(check("./granted/x"), /leads outside/, "a bind root is needed for its target");
  assert.equal(check("./granted/x", { bindRoots: [shared] }), "ok");
  assert.equal(check("./real/deeper/here/x"), "ok", "a relative link resolves from its own folder");
  assert.match(check("./real/deeper/back/x"), /a symlink/, "a link to a link out");
  await tmp.remove();
});

Deno.test("a link's target is resolved part by part as the kernel does: .. after a link goes up from its target", async () => {
  const tmp = await tempDir();
  const root = await Deno.realPath(tmp.path);
  const project = `${root}/project`;
  const outside = `${root}/outside`;
  await Deno.mkdir(`${project}/real`, { recursive: true });
  await Deno.mkdir(`${outside}/deep/er`, { recursive: true });
  await Deno.mkdir(`${outside}/deep/secret`, { recursive: true });
  // `s` leads out; `up` reads as the project's own (missing) `secret` when `s/..` is taken
  // lexically, but the kernel takes `s` first: outside/deep/er/../secret is outside/deep/secret.
  await Deno.symlink(`${outside}/deep/er`, `${project}/s`);
  await Deno.symlink("s/../secret", `${project}/up`);
  await Deno.symlink("s/../../../project/real", `${project}/back`);
  await Deno.symlink("missing/../real", `${project}/through`);
  const check = (source: string) => {
    try {
      new DeployPolicy(DEFAULT_DEPLOY_ALLOW).check(svc(`    volumes: ["${source}:/x"]\n`), project);
      return "ok";
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      return err.message;
    }
  };
  assert.match(check("./up"), /leads outside the project and every bind root: a symlink/);
  assert.match(check("./up/x"), /leads outside/);
  // Out and back in: the mount's source is inside the project.
  assert.equal(check("./back"), "ok");
  assert.equal(check("./through"), "ok");
  await tmp.remove();
});

Deno.test({
  name: "against the real dockerd: a refused deploy starts nothing; granted, the bind is mounted",
  ignore: !dockerd.available,
}, async () => {
  const socket = dockerd.socket;
  const image = await ensureBusyboxImage(socket);
  const dir = await tempDir();
  const project = uniqueName("iatp-allow").toLowerCase();
  const engine = new DockerEngine({ socket });
  const compose = new ComposeRunner({ socket, engine });
  const executor = (allow: Partial<DeployAllow>) =>
    new DockerExecutor({
      engine,
      compose,
      executedBy: "compose_agent",
      paths: { projectsRoot: `${dir.path}/projects`, workDir: `${dir.path}/work` },
      maxLogBytes: 64 * 1024,
      maxComposeFileBytes: 64 * 1024,
      deployTimeoutMs: 120_000,
      deployPolicy: new DeployPolicy({ ...DEFAULT_DEPLOY_ALLOW, ...allow }),
      log: silentLogger,
    });
  const shared = `${dir.path}/shared`;
  await Deno.mkdir(shared);
  const file = `services:\n  web:\n    image: ${image}\n    volumes: ["${shared}:/shared:ro"]\n` +
    `    network_mode: none\n    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]\n`;
  const cmd = () => ({
    command_id: crypto.randomUUID(),
    type: "deploy_app",
    parameters: { project, compose_file: file, wait: false },
  });
  try {
    await assert.rejects(
      executor({}).prepare(cmd()),
      (e: unknown) =>
        e instanceof HttpError && e.status === 403 &&
        e.extra.field === "parameters.compose_file: services.web.volumes[0]" &&
        e.extra.setting === "deploy_allow.bind_roots",
    );
    assert.deepEqual(await compose.services(project), [], "nothing was started");
    const r = await executor({ bindRoots: [shared] }).execute(cmd());
    assert.equal(r.status, "success", JSON.stringify(r));
    const [svcState] = await compose.services(project);
    const ins = await dockerCli(socket, [
      "inspect",
      "-f",
      "{{range .Mounts}}{{.Source}}{{end}}",
      svcState.container,
    ]);
    assert.equal(ins.stdout.trim(), shared);
  } finally {
    await executor({}).execute({
      command_id: crypto.randomUUID(),
      type: "remove_app",
      parameters: { project, stop_timeout_secs: 1 },
    });
    engine.close();
    await dir.remove();
  }
});

Deno.test({
  name:
    "against the real dockerd: another project's default network is refused in every spelling, a listed one is joined",
  ignore: !dockerd.available,
}, async () => {
  const socket = dockerd.socket;
  const image = await ensureBusyboxImage(socket);
  const dir = await tempDir();
  const engine = new DockerEngine({ socket });
  const compose = new ComposeRunner({ socket, engine });
  const proxy = uniqueName("iatp-proxy").toLowerCase();
  const executor = new DockerExecutor({
    engine,
    compose,
    executedBy: "compose_agent",
    paths: { projectsRoot: `${dir.path}/projects`, workDir: `${dir.path}/work` },
    maxLogBytes: 64 * 1024,
    maxComposeFileBytes: 64 * 1024,
    deployTimeoutMs: 120_000,
    deployPolicy: new DeployPolicy({ ...DEFAULT_DEPLOY_ALLOW, networks: [proxy] }),
    log: silentLogger,
  });
  const loop = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`;
  // The operator's shop, deployed by hand: its database on the project's default network.
  const project = uniqueName("iatp-net").toLowerCase();
  const shop = `${project}_shop`;
  const shopNet = `${shop}_default`;
  const shopDir = `${dir.path}/shop`;
  await Deno.mkdir(shopDir);
  await Deno.writeTextFile(
    `${shopDir}/docker-compose.yml`,
    `services:\n  db:\n    image: ${image}\n    command: ${loop}\n`,
  );
  const deploy = (file: string) => ({
    command_id: crypto.randomUUID(),
    type: "deploy_app",
    parameters: { project, compose_file: file, wait: false },
  });
  const web = `services:\n  web:\n    image: ${image}\n    command: ${loop}\n`;
  const on = (net: string) => `${web}    networks: [n]\nnetworks:\n  n: ${net}\n`;
  const members = async (net: string) =>
    (await dockerCli(socket, [
      "network",
      "inspect",
      "-f",
      "{{range .Containers}}{{.Name}} {{end}}",
      net,
    ])).stdout.trim();
  try {
    const up = await compose.up(shop, shopDir, "docker-compose.yml", 60_000);
    assert.equal(up.code, 0, up.stderr);
    const [db] = await compose.services(shop);
    assert.equal(await members(shopNet), db.container);
    for (
      const [file, field] of [
        [on(`{external: true, name: ${shopNet}}`), "networks.n"],
        [on(`{external: {name: ${shopNet}}}`), "networks.n"],
        [on(`{name: ${shopNet}}`), "networks.n"],
        [`${web}    network_mode: ${shopNet}\n`, "services.web.network_mode"],
        // No name of its own: the project's `shop_default` is `<project>_shop_default`, the
        // shop's default network, which the daemon has.
        [on("{}").replace(/\bn\b/g, "shop_default"), "networks.shop_default"],
      ]
    ) {
      const r = await executor.execute(deploy(file));
      assert.equal(r.status, "failed", file);
      assert.match(
        String(r.error),
        new RegExp(`${field}: .*not allowed by deploy_allow\\.networks`),
      );
      assert.deepEqual(await compose.services(project), [], "nothing was started");
    }
    assert.equal(await members(shopNet), db.container, "the shop's network has only its own");

    // A network the operator lists (a reverse proxy's) is joined.
    const made = await dockerCli(socket, ["network", "create", proxy]);
    assert.equal(made.code, 0, made.stderr);
    const r = await executor.execute(deploy(on(`{external: true, name: ${proxy}}`)));
    assert.equal(r.status, "success", JSON.stringify(r));
    const [svcState] = await compose.services(project);
    assert.equal(await members(proxy), svcState.container);
  } finally {
    await executor.execute({
      command_id: crypto.randomUUID(),
      type: "remove_app",
      parameters: { project, stop_timeout_secs: 1 },
    });
    await compose.down(shop, shopDir, "docker-compose.yml", {
      stopSecs: 1,
      volumes: true,
      timeoutMs: 60_000,
    });
    await dockerCli(socket, ["network", "rm", proxy]);
    engine.close();
    await dir.remove();
  }
});

Deno.test("the volumes compose names after the project are left for the daemon to tell apart", () => {
  const own = (text: string, allow: Partial<DeployAllow> = {}) =>
    new DeployPolicy({ ...DEFAULT_DEPLOY_ALLOW, ...allow }).check(text, DIR).projectVolumes;
  assert.deepEqual(own(svc("")), []);
  assert.deepEqual(
    own(
      svc("") +
        "volumes:\n  data: {}\n  empty:\n  s: {external: true, name: shared}\n  t: {name: t}\n",
      { volumes: ["shared", "t"] },
    ),
    ["data", "empty"],
  );
});

Deno.test({
  name:
    "against the real dockerd: a volume of the project's own name that is another project's is refused; its own is reused",
  ignore: !dockerd.available,
}, async () => {
  const socket = dockerd.socket;
  const image = await ensureBusyboxImage(socket);
  const dir = await tempDir();
  const engine = new DockerEngine({ socket });
  const compose = new ComposeRunner({ socket, engine });
  const project = uniqueName("iatp-vol").toLowerCase();
  const executor = (allow: Partial<DeployAllow>) =>
    new DockerExecutor({
      engine,
      compose,
      executedBy: "compose_agent",
      paths: { projectsRoot: `${dir.path}/projects`, workDir: `${dir.path}/work` },
      maxLogBytes: 64 * 1024,
      maxComposeFileBytes: 64 * 1024,
      deployTimeoutMs: 120_000,
      deployPolicy: new DeployPolicy({ ...DEFAULT_DEPLOY_ALLOW, ...allow }),
      log: silentLogger,
    });
  const loop = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`;
  const withVolume = (key: string) =>
    `services:\n  x:\n    image: ${image}\n    network_mode: none\n    command: ${loop}\n` +
    `    volumes: [${key}:/v]\nvolumes:\n  ${key}: {}\n`;
  // The operator's shop, deployed by hand, its data in its volume `data`: `<shop>_data`.
  const shop = `${project}_shop`;
  const shopDir = `${dir.path}/shop`;
  await Deno.mkdir(shopDir);
  await Deno.writeTextFile(`${shopDir}/docker-compose.yml`, withVolume("data"));
  const deploy = (file: string) => ({
    command_id: crypto.randomUUID(),
    type: "deploy_app",
    parameters: { project, compose_file: file, wait: false },
  });
  try {
    const up = await compose.up(shop, shopDir, "docker-compose.yml", 60_000);
    assert.equal(up.code, 0, up.stderr);
    // `<project>` + `shop_data` is the same name.
    const r = await executor({}).execute(deploy(withVolume("shop_data")));
    assert.equal(r.status, "failed", JSON.stringify(r));
    assert.match(
      String(r.error),
      /volumes\.shop_data: volume ".*_shop_data" exists and is project .*'s.*deploy_allow\.volumes/,
    );
    assert.deepEqual(await compose.services(project), [], "nothing was started");
    // Listed, it is granted; and the project's own volume passes on every deploy after.
    const granted = await executor({ volumes: [`${shop}_data`] }).execute(
      deploy(withVolume("shop_data")),
    );
    assert.equal(granted.status, "success", JSON.stringify(granted));
    for (let i = 0; i < 2; i++) {
      const again = await executor({}).execute(deploy(withVolume("mine")));
      assert.equal(again.status, "success", JSON.stringify(again));
    }
  } finally {
    await executor({}).execute({
      command_id: crypto.randomUUID(),
      type: "remove_app",
      parameters: { project, stop_timeout_secs: 1, remove_volumes: true },
    });
    await compose.down(shop, shopDir, "docker-compose.yml", {
      stopSecs: 1,
      volumes: true,
      timeoutMs: 60_000,
    });
    engine.close();
    await dir.remove();
  }
});

/** Compose v1 (docker-compose 1.29, PyYAML) when installed: what it reads a file as. */
const composeV1 = await new Deno.Command("docker-compose", { args: ["version", "--short"] })
  .output().then((o) => o.success, () => false);

Deno.test({
  name:
    "a file compose reads otherwise than the check (YAML 1.1 line breaks, two merge keys, an alias as a key) is refused",
}, async () => {
  const hidden = "    privileged: true";
  const files: Array<[string, string]> = [
    ["a comment ended by U+2028", svc(`    user: nobody # note\u2028${hidden}\n`)],
    ["a comment ended by U+0085", svc(`    user: nobody # note\u0085${hidden}\n`)],
    ["a comment ended by U+2029", svc(`    user: nobody # note\u2029${hidden}\n`)],
    ["a comment ended by a lone CR", svc(`    user: nobody # note\r${hidden}\n`)],
    ["a block scalar ended by U+2028", svc(`    x-note: |\n      text\u2028${hidden}\n`)],
    [
      "two merge keys: the first wins here, the last in PyYAML",
      "x-a: &a {privileged: true}\nx-b: &b {privileged: false}\n" +
      svc("    <<: *b\n    <<: *a\n"),
    ],
    [
      "an alias of a merge key as a key: a merge for PyYAML only",
      "x-k: {&k <<: {x-z: 1}}\nx-a: &a {privileged: true}\n" + svc("    *k : *a\n"),
    ],
  ];
  const dir = await tempDir();
  try {
    for (const [what, text] of files) {
      const e = refusal(text);
      assert.equal(e.status, 400, what);
      assert.equal(e.extra.field, "parameters.compose_file", what);
      if (!composeV1) continue;
      // The premise: compose itself reads the file as privileged.
      await Deno.writeTextFile(`${dir.path}/docker-compose.yml`, text);
      const out = await new Deno.Command("docker-compose", {
        args: ["-f", "docker-compose.yml", "config"],
        cwd: dir.path,
        env: { COMPOSE_INTERACTIVE_NO_CLI: "1" },
      }).output();
      assert.match(new TextDecoder().decode(out.stdout), /privileged: true/, what);
    }
    // CRLF line ends, one merge key and a merge list stay ordinary.
    new DeployPolicy().check(
      "x-a: &a {image: busybox}\r\nx-b: &b {user: nobody}\r\nservices:\r\n  web:\r\n" +
        "    <<: [*a, *b]\r\n    command: [sh]\r\n",
      DIR,
    );
  } finally {
    await dir.remove();
  }
});

Deno.test("variables in a named volume's driver_opts are refused: compose fills them in before the daemon mounts", () => {
  const vol = (opts: string) => svc("") + `volumes:\n  root:\n    driver_opts: ${opts}\n`;
  const cases: Array<[string, string]> = [
    ['{type: none, o: "${U:-bi}nd", device: "${U:-/}"}', "volumes.root.driver_opts.o"],
    ['{type: none, o: "b${U}", device: "/"}', "volumes.root.driver_opts.o"],
    ['{type: "${T:-proc}", device: proc}', "volumes.root.driver_opts.type"],
  ];
  for (const [opts, field] of cases) {
    const e = refusal(vol(opts));
    assert.equal(e.status, 403, opts);
    assert.equal(e.extra.field, `parameters.compose_file: ${field}`, opts);
    assert.equal(e.extra.setting, "deploy_allow.bind_roots", opts);
    // Granting devices does not grant a bind outside the bind roots.
    assert.equal(refusal(vol(opts), { devices: true }).extra.setting, "deploy_allow.bind_roots");
  }
});

/** An executor over the test daemon, its folders under `root`. */
function testExecutor(
  engine: DockerEngine,
  compose: ComposeRunner,
  root: string,
  allow: Partial<DeployAllow> = {},
) {
  return new DockerExecutor({
    engine,
    compose,
    executedBy: "compose_agent",
    paths: { projectsRoot: `${root}/projects`, workDir: `${root}/work` },
    maxLogBytes: 64 * 1024,
    maxComposeFileBytes: 64 * 1024,
    deployTimeoutMs: 120_000,
    deployPolicy: new DeployPolicy({ ...DEFAULT_DEPLOY_ALLOW, ...allow }),
    log: silentLogger,
  });
}

Deno.test({
  name:
    "against the real dockerd: a bind of the host's root spelled with variable defaults in driver_opts starts nothing",
  ignore: !dockerd.available,
}, async () => {
  const socket = dockerd.socket;
  const image = await ensureBusyboxImage(socket);
  const dir = await tempDir();
  const engine = new DockerEngine({ socket });
  const compose = new ComposeRunner({ socket, engine });
  const project = uniqueName("iatp-dopts").toLowerCase();
  const loop = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`;
  const file =
    `services:\n  x:\n    image: ${image}\n    network_mode: none\n    command: ${loop}\n` +
    `    volumes: [root:/host:ro]\nvolumes:\n  root:\n    driver_opts:\n` +
    `      type: none\n      o: "\${U:-bi}nd"\n      device: "\${U:-/}"\n`;
  const executor = testExecutor(engine, compose, dir.path);
  try {
    await assert.rejects(
      executor.prepare({
        command_id: crypto.randomUUID(),
        type: "deploy_app",
        parameters: { project, compose_file: file, wait: false },
      }),
      (e: unknown) =>
        e instanceof HttpError && e.status === 403 &&
        e.extra.field === "parameters.compose_file: volumes.root.driver_opts.o" &&
        e.extra.setting === "deploy_allow.bind_roots",
    );
    assert.deepEqual(await compose.services(project), [], "nothing was started");
    const vols = await dockerCli(socket, ["volume", "ls", "-q", "-f", `name=${project}_root`]);
    assert.equal(vols.stdout.trim(), "", "no volume was made");
  } finally {
    await executor.execute({
      command_id: crypto.randomUUID(),
      type: "remove_app",
      parameters: { project, stop_timeout_secs: 1, remove_volumes: true },
    });
    engine.close();
    await dir.remove();
  }
});

Deno.test({
  name:
    "against the real dockerd: a project folder's .env cannot have compose read a Windows path as a host folder",
  ignore: !dockerd.available,
}, async () => {
  const socket = dockerd.socket;
  const image = await ensureBusyboxImage(socket);
  const dir = await tempDir();
  const engine = new DockerEngine({ socket });
  const compose = new ComposeRunner({ socket, engine });
  const project = uniqueName("iatp-winpath").toLowerCase();
  // With COMPOSE_FORCE_WINDOWS_HOST and COMPOSE_CONVERT_WINDOWS_PATHS, `Q:/...` (a named volume
  // `Q` for the check) is the host folder `/q/...`, which the daemon creates.
  const hostFolder = `/q/tmp/${project}`;
  const hadQ = await Deno.stat("/q").then(() => true, () => false);
  const folder = `${dir.path}/projects/${project}`;
  await Deno.mkdir(folder, { recursive: true });
  await Deno.writeTextFile(
    `${folder}/.env`,
    "COMPOSE_FORCE_WINDOWS_HOST=1\nCOMPOSE_CONVERT_WINDOWS_PATHS=1\n",
  );
  const loop = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`;
  await Deno.writeTextFile(
    `${folder}/docker-compose.yml`,
    `services:\n  x:\n    image: ${image}\n    network_mode: none\n    command: ${loop}\n` +
      `    volumes: ["Q:/tmp/${project}:/host"]\n`,
  );
  const executor = testExecutor(engine, compose, dir.path);
  try {
    const r = await executor.execute({
      command_id: crypto.randomUUID(),
      type: "deploy_app",
      parameters: { project, project_dir: project, wait: false },
    });
    assert.equal(r.status, "failed", JSON.stringify(r));
    assert.deepEqual(await compose.services(project), [], "nothing was started");
    assert.equal(await Deno.stat(hostFolder).then(() => true, () => false), false);
  } finally {
    await executor.execute({
      command_id: crypto.randomUUID(),
      type: "remove_app",
      parameters: { project, project_dir: project, stop_timeout_secs: 1 },
    });
    if (!hadQ) await Deno.remove("/q", { recursive: true }).catch(() => {});
    engine.close();
    await dir.remove();
  }
});

Deno.test("a remote build context is refused by default: the agent's compose fetches it from the host's network", () => {
  const cases: Array<[string, string]> = [
    ["    build: {context: 'http://127.0.0.1:8080/Dockerfile'}\n", "services.web.build.context"],
    ["    build: 'https://example.org/r.git'\n", "services.web.build"],
    ["    build: 'git@example.org:o/r.git'\n", "services.web.build"],
    ["    build: {context: 'github.com/o/r'}\n", "services.web.build.context"],
    ["    build: {context: 'GIT://example.org/r'}\n", "services.web.build.context"],
    [
      "    build: {context: ., additional_contexts: {g: 'http://169.254.169.254/'}}\n",
      "services.web.build.additional_contexts.g",
    ],
  ];
  for (const [body, field] of cases) {
    const e = refusal(svc(body));
    assert.equal(e.status, 403, body);
    assert.equal(e.extra.field, `parameters.compose_file: ${field}`, body);
    assert.equal(e.extra.setting, "deploy_allow.host_namespaces", body);
  }
});

Deno.test({
  name:
    "against the real dockerd: a build context on the host's loopback is never fetched (its answer would come back in the build's errors)",
  ignore: !dockerd.available,
}, async () => {
  const socket = dockerd.socket;
  const dir = await tempDir();
  const engine = new DockerEngine({ socket });
  const compose = new ComposeRunner({ socket, engine });
  const project = uniqueName("iatp-remote").toLowerCase();
  // A service only the host's loopback reaches.
  let fetched = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    fetched++;
    return new Response("FROM scratch\nLOOPBACK-ONLY\n");
  });
  const url = `http://127.0.0.1:${server.addr.port}/Dockerfile`;
  const executor = testExecutor(engine, compose, dir.path);
  try {
    const r = await executor.execute({
      command_id: crypto.randomUUID(),
      type: "deploy_app",
      parameters: {
        project,
        compose_file: `services:\n  x:\n    build: {context: "${url}"}\n    network_mode: none\n`,
        wait: false,
      },
    });
    assert.equal(r.status, "failed", JSON.stringify(r));
    assert.match(String(r.error), /build\.context: .*deploy_allow\.host_namespaces/);
    assert.doesNotMatch(JSON.stringify(r), /LOOPBACK-ONLY/);
    assert.equal(fetched, 0, "the agent's compose fetched the context");
  } finally {
    await server.shutdown();
    await executor.execute({
      command_id: crypto.randomUUID(),
      type: "remove_app",
      parameters: { project, stop_timeout_secs: 1 },
    });
    engine.close();
    await dir.remove();
  }
});

Deno.test({
  name:
    "against the real dockerd: compose runs the text the check read, not the file a project's container rewrites",
  ignore: !dockerd.available,
}, async () => {
  const socket = dockerd.socket;
  const image = await ensureBusyboxImage(socket);
  const dir = await tempDir();
  const engine = new DockerEngine({ socket });
  const compose = new ComposeRunner({ socket, engine });
  const project = uniqueName("iatp-swap").toLowerCase();
  // The project's container mounts its folder writable and keeps putting a privileged file in
  // place of the working copy: the next deploy's file is rewritten between the check and compose.
  const evil = `services:\n  e:\n    image: ${image}\n    network_mode: none\n` +
    `    privileged: true\n    command: ["sleep", "1000"]\n`;
  const loop = `["sh", "-c", "while true; do echo ${
    btoa(evil)
  } | base64 -d > /p/.t && mv /p/.t /p/docker-compose.yml; done"]`;
  const file = `services:\n  w:\n    image: ${image}\n    network_mode: none\n` +
    `    volumes: [".:/p"]\n    command: ${loop}\n`;
  const executor = testExecutor(engine, compose, dir.path);
  const deploy = () =>
    executor.execute({
      command_id: crypto.randomUUID(),
      type: "deploy_app",
      parameters: { project, compose_file: file, wait: false },
    });
  try {
    const first = await deploy();
    assert.equal(first.status, "success", JSON.stringify(first));
    const copy = `${dir.path}/work/${project}/docker-compose.yml`;
    while (!(await Deno.readTextFile(copy).catch(() => "")).includes("privileged")) {
      await delay(50);
    }
    const again = await deploy();
    assert.equal(again.status, "success", JSON.stringify(again));
    assert.deepEqual((await compose.services(project)).map((s) => s.service), ["w"]);
  } finally {
    const left = await dockerCli(socket, [
      "ps",
      "-aq",
      "--filter",
      `label=com.docker.compose.project=${project}`,
    ]);
    for (const id of left.stdout.split("\n").filter((l) => l.trim() !== "")) {
      await dockerCli(socket, ["rm", "-f", id.trim()]);
    }
    engine.close();
    await dir.remove();
  }
});

Deno.test({
  name:
    "against the real dockerd: remove_app checks the project's file as a deploy does: a rewritten one cannot remove another's volume",
  ignore: !dockerd.available,
}, async () => {
  const socket = dockerd.socket;
  const image = await ensureBusyboxImage(socket);
  const dir = await tempDir();
  const engine = new DockerEngine({ socket });
  const compose = new ComposeRunner({ socket, engine });
  const project = uniqueName("iatp-rmswap").toLowerCase();
  // Another project's data, its containers gone for now (or a volume made by hand).
  const victim = `${project}-data`;
  assert.equal((await dockerCli(socket, ["volume", "create", victim])).code, 0);
  // The project's container rewrites the working copy to name that volume: `down -v` removes
  // the volumes its file declares.
  const evil = `services:\n  w:\n    image: ${image}\n    network_mode: none\n` +
    `volumes:\n  v: {name: ${victim}}\n`;
  const loop = `["sh", "-c", "echo ${
    btoa(evil)
  } | base64 -d > /p/.t && mv /p/.t /p/docker-compose.yml; sleep 1000"]`;
  const file = `services:\n  w:\n    image: ${image}\n    network_mode: none\n` +
    `    volumes: [".:/p"]\n    command: ${loop}\n`;
  const executor = testExecutor(engine, compose, dir.path);
  try {
    const r = await executor.execute({
      command_id: crypto.randomUUID(),
      type: "deploy_app",
      parameters: { project, compose_file: file, wait: false },
    });
    assert.equal(r.status, "success", JSON.stringify(r));
    const copy = `${dir.path}/work/${project}/docker-compose.yml`;
    while (!(await Deno.readTextFile(copy).catch(() => "")).includes(victim)) await delay(50);
    const rm = await executor.execute({
      command_id: crypto.randomUUID(),
      type: "remove_app",
      parameters: { project, stop_timeout_secs: 1, remove_volumes: true },
    });
    assert.equal(rm.status, "failed", JSON.stringify(rm));
    assert.match(String(rm.error), /volumes\.v: .*deploy_allow\.volumes/);
    const vols = await dockerCli(socket, ["volume", "ls", "-q", "-f", `name=${victim}`]);
    assert.equal(vols.stdout.trim(), victim, "the other project's volume is kept");
  } finally {
    const left = await dockerCli(socket, [
      "ps",
      "-aq",
      "--filter",
      `label=com.docker.compose.project=${project}`,
    ]);
    for (const id of left.stdout.split("\n").filter((l) => l.trim() !== "")) {
      await dockerCli(socket, ["rm", "-f", id.trim()]);
    }
    await dockerCli(socket, ["volume", "rm", victim]);
    engine.close();
    await dir.remove();
  }
});

Deno.test("a removal is refused only for the networks and volumes down would remove that are not the project's", () => {
  const policy = new DeployPolicy();
  // What a narrower allow-list refuses at a deploy is still taken down.
  assert.deepEqual(
    policy.checkRemoval(
      svc("    privileged: true\n    volumes: [/:/host]\n") + "volumes:\n  d: {}\n",
    ),
    { projectNetworks: ["default"], projectVolumes: ["d"] },
  );
  const refusedBy = (text: string) => {
    try {
      policy.checkRemoval(text);
    } catch (err) {
      if (err instanceof HttpError) return [err.status, err.extra.field, err.extra.setting];
      throw err;
    }
    return assert.fail(`not refused:\n${text}`);
  };
  assert.deepEqual(refusedBy(svc("") + "volumes:\n  v: {name: other_data}\n"), [
    403,
    "parameters.compose_file: volumes.v",
    "deploy_allow.volumes",
  ]);
  assert.deepEqual(refusedBy(svc("") + "networks:\n  n: {name: other_default}\n"), [
    403,
    "parameters.compose_file: networks.n",
    "deploy_allow.networks",
  ]);
  assert.deepEqual(refusedBy("x-a: &a {}\nservices:\n  w:\n    <<: *a\n    <<: *a\n"), [
    400,
    "parameters.compose_file",
    undefined,
  ]);
  // Listed, they are removed as the operator granted them.
  new DeployPolicy({ ...DEFAULT_DEPLOY_ALLOW, volumes: ["other_data"] }).checkRemoval(
    svc("") + "volumes:\n  v: {name: other_data}\n",
  );
});
