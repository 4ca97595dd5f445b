#!/usr/bin/env bash
# Makes the credentials deploy/compose.yaml mounts, with no server involved:
#   deploy/secrets.sh [DIR]        (default deploy/secrets; IATP=path/to/iatp to use a binary)
# DIR/issuer/ holds the issuer's private key (owner-only, never mounted); DIR/mesh/ is mounted
# read-only at /run/iatp in every container: the issuer's public key, one least-scoped credential
# per service, an admin credential, the PostgreSQL password and the ledger's signing key. DIR is
# owner-only; the files in DIR/mesh are readable by the containers' users (uid 10001, postgres).
# Never overwrites: run it once per deployment.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:-$here/secrets}"
iatp="${IATP:-$here/../scripts/iatp}"
if [ -e "$dir/mesh" ]; then
  echo "deploy/secrets.sh: $dir/mesh exists; not overwriting it" >&2
  exit 2
fi
mkdir -p "$dir"
chmod 700 "$dir"
dir="$(cd "$dir" && pwd)"
mkdir -m 755 "$dir/mesh"
export IATP_DATA_DIR="$dir"
"$iatp" token keygen --out "$dir/issuer" >/dev/null
cp "$dir/issuer/issuer.pub" "$dir/mesh/issuer.pub"
# issue NAME SCOPE...: a credential for NAME with those scopes, in mesh/NAME.token.
issue() {
  local name="$1"
  shift
  local scopes=()
  for s in "$@"; do scopes+=(--scope "$s"); done
  "$iatp" token issue --key "$dir/issuer/issuer.key" --sub "$name" "${scopes[@]}" \
    >"$dir/mesh/$name.token"
}
issue policy subscribe:access.intent publish:access.decision audit:append:policy
issue audit publish:audit.appended
issue dashboard 'subscribe:*'
issue admin '*'
# 32 random bytes each: the database password and the ledger's Ed25519 seed (base64).
head -c 32 /dev/urandom | base64 | tr -d '\n=/+' >"$dir/mesh/postgres-password"
head -c 32 /dev/urandom | base64 >"$dir/mesh/audit-signing-key"
chmod 644 "$dir"/mesh/*
echo "$dir/mesh"
