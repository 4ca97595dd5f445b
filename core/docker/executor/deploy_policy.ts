/**
 * The operator's allow-list for `deploy_app`: a compose file asking for more of the host than the
 * compose-agent's `deploy_allow` settings grant (privileged mode, the host's namespaces, added
 * capabilities, devices, weakened confinement, host files outside the project and the configured
 * bind roots, other files pulled in, host programs run as providers or models, logging drivers
 * that send output from the host, existing networks and other containers' network stacks) is
 * refused with a 403 naming the field, before compose runs.
 * @module
 */
import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from "node:path";
import { isAlias, isScalar, parseDocument, visit } from "yaml";
import { HttpError } from "../../errors/mod.ts";

/** What an operator lets a `compose:deploy_app` holder ask of the host (`deploy_allow.*`). */
export interface DeployAllow {
  /** `privileged: true` (and `build.privileged`). */
  privileged: boolean;
  /**
   * `network_mode`/`pid`/`ipc`/`uts`/`userns_mode`/`cgroup` of `host` or another container, and a
   * remote build context (fetched from the host's network).
   */
  hostNamespaces: boolean;
  /** Capabilities `cap_add` may name (upper case, without `CAP_`); `ALL` only when listed. */
  capAdd: readonly string[];
  /** `devices`, `device_cgroup_rules` and `gpus`. */
  devices: boolean;
  /**
   * `security_opt` other than `no-new-privileges`, `cgroup_parent`, a `runtime` other than runc,
   * a negative `oom_score_adj`.
   */
  securityOpt: boolean;
  /** Absolute host folders bind mounts (and file sources) may come from, beyond the project's. */
  bindRoots: readonly string[];
  /**
   * Provider types a service's `provider.type` may name: compose runs each as a host program
   * (the Docker CLI plugin `docker-<type>`, else `<type>` on its PATH). `model` also grants the
   * top-level `models`, which compose hands to the `docker model` plugin.
   */
  providers: readonly string[];
  /** Logging drivers beyond `json-file`, `local` and `none` a service's `logging.driver` may name. */
  logDrivers: readonly string[];
  /**
   * Existing volumes a top-level volume may name (`external`, `name`): any other project's data,
   * the agent's own included, is reachable by its name.
   */
  volumes: readonly string[];
  /**
   * Existing networks the file may join: a top-level network that names one (`external`,
   * `name`), a service's `network_mode: NAME` (`bridge` for Docker's default bridge, which
   * `default` means too), a build's `network: NAME`. Any other project's networks, and the
   * services on them, are reachable by their names (`<project>_default`).
   */
  networks: readonly string[];
}

/** The default: nothing beyond an ordinary container and files inside the project folder. */
export const DEFAULT_DEPLOY_ALLOW: DeployAllow = {
  privileged: false,
  hostNamespaces: false,
  capAdd: [],
  devices: false,
  securityOpt: false,
  bindRoots: [],
  providers: [],
  logDrivers: [],
  volumes: [],
  networks: [],
};

/** Most symlinks followed while resolving one host path inside the project (as Linux's 40). */
const MAX_LINKS = 40;
/** Most YAML aliases expanded while reading a compose file (a billion-laughs bound). */
const MAX_ALIASES = 100;
/** Top-level keys of the compose specification accepted (plus `x-` extensions). */
const TOP_LEVEL = new Set([
  "version",
  "name",
  "services",
  "networks",
  "volumes",
  "secrets",
  "configs",
]);
/**
 * Filesystem types a named volume's `driver_opts.type` may mount without `deploy_allow.devices`:
 * a bind (`none`, its `device` checked as a host path), `overlay` (its folders checked), memory,
 * and network shares. Any other type is mounted by the daemon from the host's kernel.
 */
const LOCAL_MOUNT_TYPES = new Set(["none", "overlay", "tmpfs", "nfs", "nfs4", "cifs", "smb3"]);
/**
 * Logging drivers that keep a container's output on the daemon's disk. Every other driver has the
 * daemon itself, from the host's network and with its own credentials, send the output where the
 * file's `logging.options` say (`syslog-address`, `gelf-address`, `splunk-url`, `awslogs`...).
 */
const LOCAL_LOG_DRIVERS = new Set(["json-file", "local", "none"]);
/** Network drivers whose networks are Docker's own (a new bridge, an overlay). */
const NETWORK_DRIVERS = new Set(["bridge", "overlay"]);
/**
 * A build context compose fetches rather than reads from a folder: a URL (`https://`, `git://`)
 * and the git spellings compose and the Docker CLI clone (`git@host:repo`, `github.com/...`).
 */
const REMOTE = /^([a-z][a-z0-9+.-]*:\/\/|git@|github\.com\/)/i;
/** Service fields that must be lists when set. */
const LISTS = ["volumes", "volumes_from", "security_opt", "cap_add"] as const;
/** Service lifecycle hooks (lists of commands or init containers), each may ask `privileged`. */
const HOOKS = ["pre_start", "post_start", "pre_stop"] as const;
const NAMESPACE_FIELDS = ["network_mode", "pid", "ipc", "uts", "userns_mode", "cgroup"] as const;

type Doc = Record<string, unknown>;

/** What {@linkcode DeployPolicy.check} leaves to the daemon to settle. */
export interface CheckedFile {
  /**
   * Keys of the networks compose names `<project>_<key>` (`default` included unless the file
   * names it otherwise): compose joins one that exists, and another project's may have the name
   * (project `a` with network `b_default` and project `a_b`'s default network are both
   * `a_b_default`).
   */
  projectNetworks: string[];
  /**
   * Keys of the top-level volumes compose names `<project>_<key>`: compose mounts one that
   * exists, and another project's may have the name (`a` + `b_data` is project `a_b`'s `data`).
   */
  projectVolumes: string[];
}

/** A host path of a compose file: where it is, as written, and as the kernel reaches it. */
interface HostPath {
  at: string;
  raw: string;
  path: string;
}

function refuse(field: string, setting: string, why: string): never {
  throw new HttpError(403, `compose file refused: ${field}: ${why} (not allowed by ${setting})`, {
    field: `parameters.compose_file: ${field}`,
    setting,
  });
}

function isMap(v: unknown): v is Doc {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** True when `v` is set to something other than false/absent/empty. */
function isSet(v: unknown): boolean {
  return v !== undefined && v !== null && v !== false && v !== "" &&
    !(Array.isArray(v) && v.length === 0);
}

/** Checks one compose file's text against `allow`; `projectDir` is where relative paths resolve. */
export class DeployPolicy {
  readonly #roots: string[];
  /** The host paths of the file being checked, as the kernel reaches them. */
  #paths: HostPath[] = [];
  /** The folders of the file being checked that a container mounts writable. */
  #writable: HostPath[] = [];

  /** @param allow the operator's allow-list (see {@linkcode DEFAULT_DEPLOY_ALLOW}) */
  constructor(private readonly allow: DeployAllow = DEFAULT_DEPLOY_ALLOW) {
    this.#roots = allow.bindRoots.map((r) => normalize(r));
  }

  /**
   * Refuses what the allow-list does not grant.
   * @returns what only the daemon can tell about the file
   * @throws {HttpError} 400 when the text is not a compose mapping, 403 naming the first field
   * the allow-list does not grant.
   * @example
   * ```ts
   * new DeployPolicy().check("services: {web: {image: nginx}}", "/srv/apps/web"); // ok
   * ```
   */
  check(text: string, projectDir: string): CheckedFile {
    const doc = readYaml(text);
    if (!isMap(doc) || !isMap(doc.services)) {
      throw new HttpError(400, "compose file has no services mapping", {
        field: "parameters.compose_file",
      });
    }
    for (const key of Object.keys(doc)) {
      if (key === "models") {
        // Compose hands them to the `docker model` plugin, a host program (pull, configure).
        if (!this.allow.providers.includes("model")) {
          refuse(key, "deploy_allow.providers", "models are run by the docker model plugin");
        }
        continue;
      }
      if (!TOP_LEVEL.has(key) && !key.startsWith("x-")) {
        refuse(key, "the compose-agent", "only services, networks, volumes, secrets and configs");
      }
    }
    this.#paths = [];
    this.#writable = [];
    const services = Object.keys(doc.services);
    for (const [name, svc] of Object.entries(doc.services)) {
      if (isMap(svc)) this.#service(`services.${name}`, svc, projectDir, services);
    }
    const projectVolumes = this.#topVolumes(doc.volumes, projectDir);
    const projectNetworks = this.#topNetworks(doc.networks);
    for (const kind of ["secrets", "configs"] as const) {
      const section = doc[kind];
      if (!isMap(section)) continue;
      for (const [name, def] of Object.entries(section)) {
        if (isMap(def) && def.file !== undefined) {
          this.#hostPath(`${kind}.${name}.file`, def.file, projectDir);
        }
      }
    }
    this.#insideWritable();
    return { projectNetworks, projectVolumes };
  }

  /**
   * What `compose down` of a project's file reaches beyond the project's containers: the
   * networks it declares and (with `-v`) the volumes, removed by name. One that names an
   * existing network or volume (`external`, or a `name` of its own) is refused unless
   * `deploy_allow.networks` (`.volumes`) lists it, as at a deploy; the rest of the file is not
   * judged (what a narrower allow-list now refuses is still taken down).
   * @returns the keys compose names after the project, for the daemon to tell apart
   * @throws {HttpError} 400 when the text is not a compose mapping, 403 naming the network or
   * volume
   */
  checkRemoval(text: string): CheckedFile {
    const doc = readYaml(text);
    if (!isMap(doc)) unreadable("is not a mapping");
    const projectVolumes: string[] = [];
    if (isMap(doc.volumes)) {
      for (const [key, def] of Object.entries(doc.volumes)) {
        if (!isMap(def) || this.#volumeName(key, def)) projectVolumes.push(key);
      }
    }
    const nets = isMap(doc.networks) ? doc.networks : {};
    const projectNetworks = "default" in nets ? [] : ["default"];
    for (const [key, def] of Object.entries(nets)) {
      const d = isMap(def) ? def : {};
      const external = isMap(d.external) ? d.external : {};
      const named = d.name ?? external.name;
      if (named === undefined && !isSet(d.external)) {
        projectNetworks.push(key);
      } else if (!this.allow.networks.includes(String(named ?? key))) {
        refuse(
          `networks.${key}`,
          "deploy_allow.networks",
          `network ${JSON.stringify(String(named ?? key))} is not this project's own`,
        );
      }
    }
    return { projectNetworks, projectVolumes };
  }

  /** True when `deploy_allow.networks` (or `.volumes`) lists the existing network (volume) `name`. */
  grants(kind: "networks" | "volumes", name: string): boolean {
    return this.allow[kind].includes(name);
  }

  /**
   * Refuses a host path below a folder the file mounts writable into a container: that
   * container (one of the project's, still running from the deploy before) can swap a part of
   * the path for a symlink between this check and the mount, which Docker would follow.
   */
  #insideWritable(): void {
    for (const p of this.#paths) {
      const w = this.#writable.find((w) => w.path !== p.path && inside(w.path, p.path));
      if (!w) continue;
      refuse(
        p.at,
        "deploy_allow.bind_roots",
        `host path ${JSON.stringify(p.raw)} is inside ${JSON.stringify(w.raw)}, which ${w.at} ` +
          "mounts writable: a container could make a part of it a symlink before the mount " +
          "(mount the folder read-only, or use a path beside it)",
      );
    }
  }

  #service(at: string, s: Doc, dir: string, services: readonly string[]): void {
    const a = this.allow;
    for (const f of [...LISTS, ...HOOKS]) {
      if (s[f] !== undefined && s[f] !== null && !Array.isArray(s[f])) {
        throw new HttpError(400, `compose file refused: ${at}.${f}: not a list`, {
          field: `parameters.compose_file: ${at}.${f}`,
        });
      }
    }
    if (!a.privileged && isSet(s.privileged)) {
      refuse(`${at}.privileged`, "deploy_allow.privileged", "privileged mode");
    }
    if (!a.privileged && isSet(s.use_api_socket)) {
      // Compose binds the host's Docker socket in and copies its registry credentials along.
      refuse(`${at}.use_api_socket`, "deploy_allow.privileged", "the host's Docker socket");
    }
    for (const f of HOOKS) {
      // pre_start runs a container of its own, post_start/pre_stop an exec in the service's:
      // privileged either way.
      const hooks = (s[f] ?? []) as unknown[];
      hooks.forEach((h, i) => {
        if (!a.privileged && isMap(h) && isSet(h.privileged)) {
          refuse(`${at}.${f}[${i}].privileged`, "deploy_allow.privileged", "a privileged hook");
        }
      });
    }
    if (s.provider !== undefined) {
      const type = isMap(s.provider) ? s.provider.type : undefined;
      if (typeof type !== "string" || !a.providers.includes(type)) {
        refuse(
          `${at}.provider`,
          "deploy_allow.providers",
          `provider type ${JSON.stringify(type ?? null)} is a program compose runs on the host`,
        );
      }
    }
    const logging = isMap(s.logging) ? s.logging : {};
    for (const [f, driver] of [["logging.driver", logging.driver], ["log_driver", s.log_driver]]) {
      if (driver === undefined || LOCAL_LOG_DRIVERS.has(String(driver))) continue;
      if (!a.logDrivers.includes(String(driver))) {
        refuse(
          `${at}.${f}`,
          "deploy_allow.log_drivers",
          `logging driver ${JSON.stringify(driver)} has the daemon send the output off its disk`,
        );
      }
    }
    for (const f of NAMESPACE_FIELDS) {
      const v = s[f];
      if (a.hostNamespaces || v === undefined) continue;
      if (typeof v !== "string" || /^(host|container:)|\$/.test(v)) {
        refuse(
          `${at}.${f}`,
          "deploy_allow.host_namespaces",
          `${JSON.stringify(v)} shares a host or another container's namespace`,
        );
      }
    }
    if (s.network_mode !== undefined) this.#networkMode(at, s.network_mode, services);
    this.#caps(`${at}.cap_add`, s.cap_add);
    if (!a.devices) {
      for (const f of ["devices", "device_cgroup_rules", "gpus"]) {
        if (isSet(s[f])) refuse(`${at}.${f}`, "deploy_allow.devices", "host devices");
      }
      // deploy.resources.reservations.devices: device requests (GPUs...), as `gpus`.
      const deploy = isMap(s.deploy) ? s.deploy : {};
      const resources = isMap(deploy.resources) ? deploy.resources : {};
      const reservations = isMap(resources.reservations) ? resources.reservations : {};
      if (isSet(reservations.devices)) {
        refuse(
          `${at}.deploy.resources.reservations.devices`,
          "deploy_allow.devices",
          "host devices",
        );
      }
    }
    if (!a.securityOpt && Array.isArray(s.security_opt)) {
      s.security_opt.forEach((o, i) => {
        if (!/^no-new-privileges(?:[:=]true)?$/.test(String(o))) {
          refuse(
            `${at}.security_opt[${i}]`,
            "deploy_allow.security_opt",
            `${JSON.stringify(o)} weakens confinement`,
          );
        }
      });
    }
    if (!a.securityOpt) {
      // Confinement the service's own fields can weaken: a cgroup outside Docker's (its limits
      // gone: `cgroup_parent: /`), another OCI runtime (one without the usual isolation), and a
      // container the kernel's OOM killer spares at the host's expense.
      if (isSet(s.cgroup_parent)) {
        refuse(`${at}.cgroup_parent`, "deploy_allow.security_opt", "a cgroup outside Docker's");
      }
      if (isSet(s.runtime) && s.runtime !== "runc") {
        refuse(
          `${at}.runtime`,
          "deploy_allow.security_opt",
          `runtime ${JSON.stringify(s.runtime)} (only runc, Docker's default)`,
        );
      }
      if (isSet(s.oom_kill_disable)) {
        refuse(
          `${at}.oom_kill_disable`,
          "deploy_allow.security_opt",
          "oom_kill_disable (the OOM killer would take the host's processes instead)",
        );
      }
      if (isSet(s.oom_score_adj) && !(Number(s.oom_score_adj) >= 0)) {
        refuse(
          `${at}.oom_score_adj`,
          "deploy_allow.security_opt",
          "a negative oom_score_adj (the OOM killer would spare it over the host's processes)",
        );
      }
    }
    if (isSet(s.extends) && (!isMap(s.extends) || s.extends.file !== undefined)) {
      refuse(`${at}.extends`, "the compose-agent", "another file is not checked");
    }
    if (Array.isArray(s.volumes_from)) {
      s.volumes_from.forEach((v, i) => {
        if (/^container:|\$/.test(String(v))) {
          refuse(
            `${at}.volumes_from[${i}]`,
            "deploy_allow.host_namespaces",
            "another container's volumes",
          );
        }
      });
    }
    if (Array.isArray(s.volumes)) {
      s.volumes.forEach((v, i) => this.#volume(`${at}.volumes[${i}]`, v, dir));
    }
    const envFiles = Array.isArray(s.env_file)
      ? s.env_file
      : s.env_file === undefined
      ? []
      : [s.env_file];
    envFiles.forEach((e, i) => this.#hostPath(`${at}.env_file[${i}]`, isMap(e) ? e.path : e, dir));
    const labelFiles = s.label_file === undefined
      ? []
      : Array.isArray(s.label_file)
      ? s.label_file
      : [s.label_file];
    labelFiles.forEach((f, i) => this.#hostPath(`${at}.label_file[${i}]`, f, dir));
    this.#build(`${at}.build`, s.build, dir);
  }

  /**
   * A service's `network_mode` beyond the host's and another container's (the namespace fields'
   * check): `none` has no network, `service:NAME` shares one of this file's services' stacks,
   * anything else names an existing network (`bridge` and `default` Docker's default bridge),
   * which `deploy_allow.networks` must list.
   */
  #networkMode(at: string, v: unknown, services: readonly string[]): void {
    const mode = String(v);
    const where = `${at}.network_mode`;
    if (mode.includes("$")) {
      refuse(where, "deploy_allow.networks", "variables are not allowed in network names");
    }
    if (mode === "none" || mode === "host" || mode.startsWith("container:")) return;
    if (mode.startsWith("service:")) {
      const name = mode.slice("service:".length);
      if (!this.allow.hostNamespaces && !services.includes(name)) {
        refuse(
          where,
          "deploy_allow.host_namespaces",
          `${JSON.stringify(mode)} shares the network stack of a container that is not one of ` +
            "this file's services",
        );
      }
      return;
    }
    const name = mode === "default" ? "bridge" : mode;
    if (!this.allow.networks.includes(name)) {
      refuse(
        where,
        "deploy_allow.networks",
        `${JSON.stringify(mode)} joins the existing network ${JSON.stringify(name)}`,
      );
    }
  }

  /**
   * A build's `network` beyond the host's and another container's: `default` and `none` are the
   * builder's own; any other name is an existing network its RUN steps join.
   */
  #buildNetwork(at: string, v: unknown): void {
    const name = String(v);
    if (name.includes("$")) {
      refuse(at, "deploy_allow.networks", "variables are not allowed in network names");
    }
    if (["default", "none", "host"].includes(name) || name.startsWith("container:")) return;
    if (!this.allow.networks.includes(name)) {
      refuse(
        at,
        "deploy_allow.networks",
        `the build's steps would join the existing network ${JSON.stringify(name)}`,
      );
    }
  }

  #caps(at: string, caps: unknown): void {
    if (caps === undefined || caps === null) return;
    if (!Array.isArray(caps)) refuse(at, "deploy_allow.cap_add", "not a list");
    caps.forEach((c, i) => {
      const cap = String(c).toUpperCase().replace(/^CAP_/, "");
      if (!this.allow.capAdd.includes(cap)) {
        refuse(`${at}[${i}]`, "deploy_allow.cap_add", `capability ${JSON.stringify(String(c))}`);
      }
    });
  }

  #build(at: string, b: unknown, dir: string): void {
    if (b === undefined || b === null) return;
    if (typeof b === "string") {
      this.#context(at, b, dir);
      return;
    }
    if (!isMap(b)) return;
    if (!this.allow.privileged && isSet(b.privileged)) {
      refuse(`${at}.privileged`, "deploy_allow.privileged", "privileged build");
    }
    if (
      !this.allow.hostNamespaces && b.network !== undefined &&
      /^(host$|container:)|\$/.test(String(b.network))
    ) {
      // The classic builder (compose v1's) also runs RUN steps in another container's network
      // and host name (`container:NAME`).
      refuse(
        `${at}.network`,
        "deploy_allow.host_namespaces",
        "the host's or a container's network",
      );
    }
    if (b.network !== undefined) this.#buildNetwork(`${at}.network`, b.network);
    if (isSet(b.entitlements)) {
      refuse(`${at}.entitlements`, "deploy_allow.privileged", "build entitlements");
    }
    if (b.context !== undefined) this.#context(`${at}.context`, b.context, dir);
    // Compose reads the Dockerfile itself, from wherever it is named (relative to the context),
    // and the daemon's parse errors quote it: it is a host path as well.
    const ctx = typeof b.context === "string" ? b.context : ".";
    if (b.dockerfile !== undefined && !REMOTE.test(ctx)) {
      const file = String(b.dockerfile);
      const plain = !isAbsolute(file) && !file.includes("$") && !file.startsWith("~");
      this.#hostPath(`${at}.dockerfile`, plain ? resolve(dir, ctx, file) : b.dockerfile, dir);
    }
    // ssh: [id=path]: a host key handed to the build.
    const ssh = Array.isArray(b.ssh)
      ? b.ssh.map((e) => String(e).split("=").slice(1).join("="))
      : isMap(b.ssh)
      ? Object.values(b.ssh).map(String)
      : [];
    ssh.forEach((path, i) => {
      if (path !== "") this.#hostPath(`${at}.ssh[${i}]`, path, dir);
    });
    // cache_from / cache_to of type=local read and write a host folder (src=, dest=).
    for (const f of ["cache_from", "cache_to"] as const) {
      const list = Array.isArray(b[f]) ? b[f] : b[f] === undefined ? [] : [b[f]];
      list.forEach((entry, i) => {
        const fields = String(entry).split(",");
        if (!fields.some((kv) => /^type=local$/i.test(kv.trim()))) return;
        for (const kv of fields) {
          const m = /^\s*(src|dest)=(.*)$/i.exec(kv);
          if (m) this.#hostPath(`${at}.${f}[${i}]`, m[2].trim(), dir);
        }
      });
    }
    if (isMap(b.additional_contexts)) {
      for (const [k, v] of Object.entries(b.additional_contexts)) {
        this.#context(`${at}.additional_contexts.${k}`, v, dir);
      }
    }
  }

  /**
   * A build context: a folder (a host path), or one fetched from the host's own network by the
   * agent's compose and Docker CLI (loopback services and the agent's git and SSH identity
   * included, the answer quoted back in the build's errors), as `build.network: host` would.
   */
  #context(at: string, v: unknown, dir: string): void {
    if (typeof v !== "string" || !REMOTE.test(v)) {
      this.#hostPath(at, v, dir);
      return;
    }
    if (!this.allow.hostNamespaces) {
      refuse(
        at,
        "deploy_allow.host_namespaces",
        `the remote build context ${JSON.stringify(v)} is fetched from the host's network`,
      );
    }
  }

  /** One entry of a service's `volumes`: binds must come from the project or a bind root. */
  #volume(at: string, v: unknown, dir: string): void {
    if (isMap(v)) {
      if (
        v.type === "bind" ||
        (v.type === undefined && typeof v.source === "string" && /^[./~]/.test(v.source))
      ) {
        const p = this.#hostPath(`${at}.source`, v.source, dir);
        if (v.read_only !== true) this.#writable.push(p);
      } else if (typeof v.type === "string" && !["volume", "tmpfs"].includes(v.type)) {
        refuse(`${at}.type`, "deploy_allow.bind_roots", `volume type ${JSON.stringify(v.type)}`);
      }
      return;
    }
    const text = String(v);
    const colon = text.indexOf(":");
    if (colon < 0) return; // an anonymous volume at a container path
    const source = text.slice(0, colon);
    if (/^[./~$]/.test(source) || source.includes("/")) {
      const p = this.#hostPath(at, source, dir);
      // `SOURCE:TARGET[:MODE]`, the mode a comma-separated list (`ro`, `rw`, `z`...).
      const mode = text.slice(colon + 1).split(":")[1] ?? "";
      if (!mode.split(",").includes("ro")) this.#writable.push(p);
    }
  }

  /**
   * Top-level networks: one named `host` (an external network `host`, or `name: host`) is the
   * host's own network stack, as `network_mode: host` is; one that names an existing network
   * (`external`, or a `name` of its own instead of the project-prefixed one compose makes, which
   * compose joins when it exists) must be listed in `deploy_allow.networks`.
   */
  #topNetworks(networks: unknown): string[] {
    const own = isMap(networks) && "default" in networks ? [] : ["default"];
    if (!isMap(networks)) return own;
    for (const [key, def] of Object.entries(networks)) {
      const d = isMap(def) ? def : {};
      const external = isMap(d.external) ? d.external : {};
      const named = d.name ?? external.name;
      if (named === undefined && !isSet(d.external)) own.push(key);
      const name = String(named ?? key);
      if (name.includes("$")) {
        refuse(
          `networks.${key}`,
          "deploy_allow.networks",
          "variables are not allowed in network names",
        );
      }
      if (name === "host" && this.allow.hostNamespaces) continue;
      if (name === "host") {
        refuse(`networks.${key}`, "deploy_allow.host_namespaces", "the host's network");
      }
      if ((named !== undefined || isSet(d.external)) && !this.allow.networks.includes(name)) {
        refuse(
          `networks.${key}`,
          "deploy_allow.networks",
          `network ${JSON.stringify(name)} is not this project's own (an existing one is joined)`,
        );
      }
      if (this.allow.hostNamespaces) continue;
      // macvlan, ipvlan (a host interface as `parent`) and other drivers put containers on
      // the host's own links; a bridge named after an existing one joins it.
      const driver = d.driver === undefined ? "bridge" : String(d.driver);
      if (!NETWORK_DRIVERS.has(driver)) {
        refuse(
          `networks.${key}.driver`,
          "deploy_allow.host_namespaces",
          `network driver ${JSON.stringify(driver)} (bridge and overlay only)`,
        );
      }
      const opts = isMap(d.driver_opts) ? d.driver_opts : {};
      if (opts["com.docker.network.bridge.name"] !== undefined) {
        refuse(
          `networks.${key}.driver_opts`,
          "deploy_allow.host_namespaces",
          "a bridge named by the file (an existing one of the host is joined)",
        );
      }
    }
    return own;
  }

  /**
   * A top-level volume that names an existing one (`external`, or a `name` of its own instead of
   * the project-prefixed one compose makes): refused unless `deploy_allow.volumes` lists it.
   */
  #volumeName(key: string, def: Doc): boolean {
    const external = isMap(def.external) ? def.external : {};
    const named = def.name ?? external.name;
    if (named === undefined && !isSet(def.external)) return true;
    const name = String(named ?? key);
    if (!this.allow.volumes.includes(name)) {
      refuse(
        `volumes.${key}`,
        "deploy_allow.volumes",
        `volume ${JSON.stringify(name)} is not this project's own`,
      );
    }
    return false;
  }

  /** Top-level named volumes: the local driver's `device` binds a host path as well. */
  #topVolumes(volumes: unknown, dir: string): string[] {
    const own: string[] = [];
    if (!isMap(volumes)) return own;
    for (const [name, def] of Object.entries(volumes)) {
      if (!isMap(def) || this.#volumeName(name, def)) own.push(name);
      if (!isMap(def) || !isMap(def.driver_opts)) continue;
      const at = `volumes.${name}.driver_opts`;
      for (const [opt, value] of Object.entries(def.driver_opts)) {
        // Compose fills variables in before the daemon mounts: `o: "${U:-bi}nd"` with
        // `device: "${U:-/}"` is a bind of the host's root that reads here as neither.
        if (String(value).includes("$")) {
          refuse(
            `${at}.${opt}`,
            "deploy_allow.bind_roots",
            "variables are not allowed in a volume's driver_opts",
          );
        }
      }
      const device = def.driver_opts.device;
      const options = String(def.driver_opts.o ?? "");
      const type = String(def.driver_opts.type ?? "").toLowerCase();
      if (device !== undefined && /bind/.test(options)) {
        // Compose makes the device absolute only for some spellings (`o: bind`, and compose v2
        // only under `driver: local`); any other (`rbind`, `bind,ro`) reaches the daemon as
        // written, which mounts a relative one from its own folder (`etc` is the host's /etc).
        if (typeof device === "string" && !isAbsolute(device)) {
          refuse(
            `${at}.device`,
            "deploy_allow.bind_roots",
            `bind volume device ${JSON.stringify(device)} is not absolute`,
          );
        }
        const p = this.#hostPath(`${at}.device`, device, dir);
        if (!options.split(",").includes("ro")) this.#writable.push(p);
      } else if (type === "overlay") {
        // lowerdir=/a:/b,upperdir=/c,workdir=/d: each folder is a host path, read or written.
        for (const option of options.split(",")) {
          const eq = option.indexOf("=");
          if (eq < 0 || !/dir/i.test(option.slice(0, eq))) continue;
          for (const path of option.slice(eq + 1).split(":")) {
            // The daemon, not compose, reads these: a relative one is from the daemon's folder.
            if (!isAbsolute(path)) {
              refuse(
                `${at}.o`,
                "deploy_allow.bind_roots",
                `overlay folder ${JSON.stringify(path)} is not absolute`,
              );
            }
            this.#hostPath(`${at}.o`, path, dir);
          }
        }
      } else if (this.allow.devices) {
        continue;
      } else if (typeof device === "string" && device.startsWith("/")) {
        refuse(`${at}.device`, "deploy_allow.devices", "a host device");
      } else if (type !== "" && !LOCAL_MOUNT_TYPES.has(type)) {
        // proc, sysfs, cgroup2, devpts...: mounted by the daemon, they show the host's own.
        refuse(`${at}.type`, "deploy_allow.devices", `a ${JSON.stringify(type)} mount of the host`);
      }
    }
    return own;
  }

  /**
   * A host path compose reads or mounts: allowed inside the project folder or a bind root;
   * variables (`$`), `~` and anything else that is not a plain path are refused.
   */
  #hostPath(at: string, raw: unknown, dir: string): HostPath {
    if (typeof raw !== "string" || raw === "") refuse(at, "deploy_allow.bind_roots", "not a path");
    if (raw.includes("$") || raw.startsWith("~")) {
      refuse(at, "deploy_allow.bind_roots", "variables and ~ are not allowed in host paths");
    }
    const path = isAbsolute(raw) ? normalize(raw) : resolve(dir, raw);
    const found = (reached: string): HostPath => {
      const p = { at, raw, path: reached };
      this.#paths.push(p);
      return p;
    };
    if (this.#roots.some((root) => inside(root, path))) return found(path);
    if (inside(resolve(dir), path)) {
      const { at: reached, reason: led } = this.#linkedOutside(resolve(dir), path);
      if (led === undefined) return found(reached);
      refuse(
        at,
        "deploy_allow.bind_roots",
        `host path ${JSON.stringify(raw)} leads outside the project and every bind root: ${led}`,
      );
    }
    refuse(
      at,
      "deploy_allow.bind_roots",
      `host path ${JSON.stringify(raw)} is outside the project and every bind root`,
    );
  }

  /**
   * Follows the symlinks along `path` (inside `dir`) as the kernel does when Docker mounts it:
   * part by part, a link's target taking its place and a `..` going up from where the walk is
   * (`s/../x` with `s` a link is beside the link's target, not the project's `x`). A missing
   * part is a plain folder (Docker creates it). The reason when the path this reaches is outside
   * the project and every bind root (a dangling link included: Docker would create its target),
   * else undefined.
   */
  #linkedOutside(dir: string, path: string): { at: string; reason?: string } {
    let at = dir;
    const rest = relative(dir, path).split(sep).filter((p) => p !== "");
    for (let links = 0; rest.length > 0;) {
      const part = rest.shift()!;
      if (part === "." || part === "..") {
        if (part === "..") at = dirname(at);
        continue;
      }
      const next = join(at, part);
      let link: string | undefined;
      try {
        if (Deno.lstatSync(next).isSymlink) link = Deno.readLinkSync(next);
      } catch (err) {
        const missing = err instanceof Deno.errors.NotFound ||
          err instanceof Deno.errors.NotADirectory;
        if (!missing) {
          return {
            at,
            reason: `it cannot be checked (${err instanceof Error ? err.name : "error"})`,
          };
        }
      }
      if (link === undefined) {
        at = next;
        continue;
      }
      if (++links > MAX_LINKS) return { at, reason: `more than ${MAX_LINKS} symlinks` };
      if (isAbsolute(link)) at = sep;
      rest.unshift(...link.split(sep).filter((p) => p !== ""));
    }
    if (inside(dir, at) || this.#roots.some((root) => inside(root, at))) return { at };
    return { at, reason: "a symlink" };
  }
}

/** A 400 naming the compose file: its text is not one compose and this check read alike. */
function unreadable(why: string, cause?: unknown): never {
  throw new HttpError(400, `compose file ${why}`, { field: "parameters.compose_file" }, { cause });
}

/**
 * The compose file's text as compose reads it. Compose v1 reads YAML 1.1 (PyYAML), which breaks
 * lines at a lone CR, U+0085, U+2028 and U+2029 as well: a comment or block scalar holding one
 * would end there for compose and not for this check (`# note<U+2028>privileged: true`). Where
 * two readers settle a mapping differently it is refused too: two merge keys (`<<`) in one
 * mapping (the first wins here, the last in PyYAML), and an alias as a key (one of a `<<` key is
 * a merge for PyYAML only).
 */
function readYaml(text: string): unknown {
  const lines = text.split("\n");
  const at = lines.findIndex((l) => /\r(?!$)|[\u0085\u2028\u2029]/.test(l));
  if (at >= 0) {
    unreadable(
      `line ${at + 1} holds a line break other than LF or CRLF (a lone CR, U+0085, U+2028, ` +
        "U+2029), which compose reads as a new line",
    );
  }
  let doc;
  try {
    doc = parseDocument(text, { merge: true });
  } catch (err) {
    unreadable("is not valid YAML", err);
  }
  if (doc.errors.length > 0) unreadable("is not valid YAML", doc.errors[0]);
  let ambiguous: string | undefined;
  try {
    visit(doc, {
      Map(_, map) {
        let merges = 0;
        for (const { key } of map.items) {
          if (isAlias(key)) ambiguous ??= `has an alias as a key (*${key.source})`;
          else if (isScalar(key) && typeof key.value === "symbol") merges++;
        }
        if (merges > 1) ambiguous ??= "has a mapping with more than one merge key (<<)";
      },
    });
  } catch (err) {
    // Nested deeper than the walk's stack (RangeError).
    unreadable("is not valid YAML", err);
  }
  if (ambiguous !== undefined) unreadable(ambiguous);
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    unreadable("is not valid YAML", err);
  }
}

/** True when `path` is `root` or below it (both absolute and normalized). */
function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}
