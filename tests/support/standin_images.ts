/**
 * Local stand-ins for the NATS and PostgreSQL images deploy/compose.yaml names, built from the
 * apt binaries with no registry: each is a scratch image holding the binaries and the shared
 * libraries `ldd` reports. The NATS one runs `/nats-server` as its entrypoint, as the official
 * image does; the PostgreSQL one takes `POSTGRES_USER`, `POSTGRES_PASSWORD_FILE` and `POSTGRES_DB`
 * and keeps its cluster in /var/lib/postgresql/data, as the official image does (a busybox
 * script initializes it on first start).
 * @module
 */
import { dockerCli } from "./dockerd.ts";

const PG = "/usr/lib/postgresql/15";
const BUSYBOX = "/bin/busybox";

/** Why the stand-ins cannot be built here (undefined when they can). */
export const standinsMissing: string | undefined = (() => {
  for (const f of ["/usr/sbin/nats-server", `${PG}/bin/postgres`, BUSYBOX, "/usr/bin/ldd"]) {
    try {
      Deno.statSync(f);
    } catch {
      return `${f} is missing (apt install nats-server postgresql-15 busybox-static)`;
    }
  }
  return undefined;
})();

async function sh(script: string, env: Record<string, string>): Promise<void> {
  const out = await new Deno.Command("bash", { args: ["-euo", "pipefail", "-c", script], env })
    .output();
  if (!out.success) {
    throw new Error(`stand-in rootfs failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** bash: copies the shared libraries of every file given into $ROOT. */
const COPY_LIBS = `copy_libs() {
  for f in "$@"; do
    ldd "$f" 2>/dev/null | awk '/=> \\// { print $3 } /^[ \\t]*\\/[^ ]+ \\(/ { print $1 }'
  done | sort -u | while read -r lib; do cp --parents -L "$lib" "$ROOT"; done
}
`;

/** The stand-in PostgreSQL's entrypoint: initialize on first start, then run the server. */
const PG_ENTRYPOINT = `#!/bin/sh
set -e
export PGDATA=/var/lib/postgresql/data
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$POSTGRES_PASSWORD_FILE" \\
    --auth-local=trust --auth-host=scram-sha-256 --locale=C -E UTF8 >/dev/null
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "CREATE DATABASE \\"$POSTGRES_DB\\"" | postgres --single -D "$PGDATA" postgres >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
`;

async function build(socket: string, tag: string, ctx: string, dockerfile: string) {
  await Deno.writeTextFile(`${ctx}/Dockerfile`, dockerfile);
  const r = await dockerCli(socket, ["build", "-q", "-t", tag, ctx], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`docker build ${tag} failed: ${r.stderr}`);
}

/** Builds the NATS stand-in as `tag`. */
export async function buildNatsStandin(socket: string, tag: string): Promise<void> {
  const ctx = await Deno.makeTempDir({ prefix: "iatp-nats-image-" });
  try {
    await sh(
      `${COPY_LIBS}mkdir -p "$ROOT" && cp /usr/sbin/nats-server "$ROOT/nats-server" && ` +
        `copy_libs /usr/sbin/nats-server`,
      { ROOT: `${ctx}/rootfs` },
    );
    await build(socket, tag, ctx, 'FROM scratch\nCOPY rootfs/ /\nENTRYPOINT ["/nats-server"]\n');
  } finally {
    await Deno.remove(ctx, { recursive: true }).catch(() => {});
  }
}

/** Builds the PostgreSQL stand-in as `tag` (runs as uid 999, like the official image's user). */
export async function buildPostgresStandin(socket: string, tag: string): Promise<void> {
  const ctx = await Deno.makeTempDir({ prefix: "iatp-pg-image-" });
  try {
    await sh(
      `${COPY_LIBS}mkdir -p "$ROOT/bin" "$ROOT/etc" "$ROOT/tmp" "$VAR/run/postgresql" ` +
        `"$VAR/lib/postgresql/data" "$ROOT/usr/share" && ` +
        `mkdir -p "$ROOT/usr/lib/postgresql" "$ROOT/usr/share/postgresql" && ` +
        `cp -a ${PG} "$ROOT/usr/lib/postgresql/" && ` +
        `cp -a /usr/share/postgresql/15 "$ROOT/usr/share/postgresql/" && ` +
        `cp -a /usr/share/zoneinfo "$ROOT/usr/share/" && ` +
        `cp ${BUSYBOX} "$ROOT/bin/busybox" && ` +
        `for a in sh echo cat; do ln -s busybox "$ROOT/bin/$a"; done && ` +
        `copy_libs ${PG}/bin/* ${PG}/lib/*.so && ` +
        `printf 'root:x:0:0::/:/bin/sh\\npostgres:x:999:999::/var/lib/postgresql:/bin/sh\\n' ` +
        `>"$ROOT/etc/passwd" && printf 'root:x:0:\\npostgres:x:999:\\n' >"$ROOT/etc/group" && ` +
        `printf '%s' "$ENTRY" >"$ROOT/entrypoint.sh" && chmod 755 "$ROOT/entrypoint.sh" && ` +
        `chmod 1777 "$ROOT/tmp" && chmod 700 "$VAR/lib/postgresql/data"`,
      { ROOT: `${ctx}/rootfs`, VAR: `${ctx}/var`, ENTRY: PG_ENTRYPOINT },
    );
    await build(
      socket,
      tag,
      ctx,
      // The server's folders belong to its user (COPY makes everything else root's).
      "FROM scratch\nCOPY rootfs/ /\nCOPY --chown=999:999 var/ /var/\n" +
        `ENV PATH=${PG}/bin:/bin TZ=UTC LANG=C\nUSER 999:999\n` +
        'ENTRYPOINT ["/entrypoint.sh"]\n',
    );
  } finally {
    await Deno.remove(ctx, { recursive: true }).catch(() => {});
  }
}
