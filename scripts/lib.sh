# Shared by scripts/iatp, scripts/test and scripts/compile: find or fetch the pinned Deno and
# install the locked dependencies. Sourced, not run.
# shellcheck shell=bash

IATP_DENO_VERSION="2.9.6"
# The checkout's physical path: Deno resolves the modules a file imports through symlinks, so a
# checkout reached through one (/opt/iatp -> /opt/iatp-1.2) is granted and run by its real path.
IATP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

# Prints the path of a Deno whose major.minor matches the pin, fetching it from npm if needed.
iatp_find_deno() {
  local want="${IATP_DENO_VERSION%.*}" cand ver
  for cand in "${DENO_BIN:-}" "$(command -v deno 2>/dev/null || true)"; do
    [ -n "$cand" ] && [ -x "$cand" ] || continue
    ver="$("$cand" --version 2>/dev/null | awk 'NR==1 {print $2}')"
    if [ "${ver%.*}" = "$want" ]; then
      # The resolved path: Deno reports its own path with symlinks resolved, and --allow-run
      # grants must name that path.
      readlink -f "$cand"
      return 0
    fi
  done
  local local_dir="$IATP_ROOT/.deno"
  cand="$(ls "$local_dir"/node_modules/@deno/*/deno 2>/dev/null | head -n 1 || true)"
  if [ -z "$cand" ] || [ ! -x "$cand" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "iatp: Deno $IATP_DENO_VERSION is not on PATH and npm is missing to fetch it" >&2
      return 1
    fi
    echo "iatp: fetching Deno $IATP_DENO_VERSION from npm into .deno/ (one time)" >&2
    mkdir -p "$local_dir"
    (cd "$local_dir" && [ -f package.json ] || printf '{"private":true}\n' >package.json)
    if ! npm install --prefix "$local_dir" --no-audit --no-fund --loglevel=error \
      "deno@$IATP_DENO_VERSION" >&2; then
      echo "iatp: npm install deno@$IATP_DENO_VERSION failed" >&2
      return 1
    fi
    cand="$(ls "$local_dir"/node_modules/@deno/*/deno 2>/dev/null | head -n 1 || true)"
    if [ -z "$cand" ]; then
      echo "iatp: the npm package deno@$IATP_DENO_VERSION has no binary for this platform" >&2
      return 1
    fi
  fi
  printf '%s\n' "$cand"
}

# Installs npm dependencies from deno.lock when deno.json or deno.lock changed since last time.
iatp_install_deps() {
  local deno="$1" stamp="$IATP_ROOT/node_modules/.iatp-install-stamp" sum
  sum="$(cat "$IATP_ROOT/deno.json" "$IATP_ROOT/deno.lock" | cksum)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then return 0; fi
  if ! (cd "$IATP_ROOT" && "$deno" install --frozen --quiet >&2); then
    echo "iatp: 'deno install --frozen' failed (the error above says why: the npm registry out of reach, or a deno.lock out of date)" >&2
    return 1
  fi
  printf '%s\n' "$sum" >"$stamp"
}

# Prints the Deno permission flags for a subcommand from cmd/permissions.txt, one per line, with
# placeholders filled after the line is split into flags, so a checkout or data path holding
# spaces stays one flag.
iatp_permission_flags() {
  local cmd="$1" deno="$2" line word data="${IATP_DATA_DIR:-$PWD/data}" reads=0 writes=0
  local allow_read allow_write
  local -a words
  # The operator's lists without empty items (`a,,b`, a trailing comma), which Deno refuses.
  allow_read="$(iatp_clean_list "${IATP_ALLOW_READ:-}")"
  allow_write="$(iatp_clean_list "${IATP_ALLOW_WRITE:-}")"
  line="$(awk -v c="$cmd" '$1 == c { $1 = ""; print; found = 1 } END { if (!found) exit 1 }' \
    "$IATP_ROOT/cmd/permissions.txt")" || return 1
  read -ra words <<<"$line"
  for word in "${words[@]}"; do
    if [[ "$word" =~ $IATP_ENV_WORD ]]; then continue; fi # an environment word (iatp_permission_env)
    word="${word//\$ROOT/$IATP_ROOT}"
    word="${word//\$DATA/$data}"
    word="${word//\$DENO/$deno}"
    word="$(iatp_extend_word "$word" --allow-read "$allow_read")" && reads=1
    word="$(iatp_extend_word "$word" --allow-write "$allow_write")" && writes=1
    printf '%s\n' "$word"
  done
  if [ $reads = 0 ] && [ -n "$allow_read" ]; then printf '%s\n' "--allow-read=$allow_read"; fi
  if [ $writes = 0 ] && [ -n "$allow_write" ]; then printf '%s\n' "--allow-write=$allow_write"; fi
}

# A comma-separated list without its empty items and the blanks around each item, as
# cmd/permissions.ts reads IATP_ALLOW_READ / IATP_ALLOW_WRITE for the image's launcher.
iatp_clean_list() {
  local item out=""
  local -a items
  IFS=, read -ra items <<<"$1"
  for item in "${items[@]}"; do
    item="${item#"${item%%[![:space:]]*}"}"
    item="${item%"${item##*[![:space:]]}"}"
    if [ -n "$item" ]; then out="${out:+$out,}$item"; fi
  done
  printf '%s' "$out"
}

# A `NAME=VALUE` word of a cmd/permissions.txt line (cmd/permissions.ts reads it the same way).
IATP_ENV_WORD='^[A-Z][A-Z0-9_]*=[^[:space:]]*$'

# Prints the `NAME=VALUE` words of subcommand CMD's line in cmd/permissions.txt whose variable the
# environment does not already set, one a line: the launcher exports them for that start.
iatp_permission_env() {
  local cmd="$1" line word name
  local -a words
  line="$(awk -v c="$cmd" '$1 == c { $1 = ""; print; found = 1 } END { if (!found) exit 1 }' \
    "$IATP_ROOT/cmd/permissions.txt")" || return 0
  read -ra words <<<"$line"
  for word in "${words[@]}"; do
    [[ "$word" =~ $IATP_ENV_WORD ]] || continue
    name="${word%%=*}"
    if [ -z "${!name+set}" ]; then printf '%s\n' "$word"; fi
  done
}

# Prints WORD with comma-separated EXTRA paths appended when it is `FLAG=a,b`; succeeds when
# WORD is FLAG in either form (a bare FLAG already allows everything), fails otherwise.
iatp_extend_word() {
  local word="$1" flag="$2" extra="$3"
  if [ "${word%%=*}" = "$flag" ] && [ "$word" != "$flag" ]; then
    if [ -n "$extra" ]; then word="$word,$extra"; fi
    printf '%s\n' "$word"
    return 0
  fi
  printf '%s\n' "$word"
  [ "$word" = "$flag" ]
}
