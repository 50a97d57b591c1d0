# Shared by scripts/run, scripts/test and scripts/bench: install, build, private PostgreSQL.
# Source it; every function prints what it does on stderr and exits non-zero on failure.

set -euo pipefail

TALLY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TALLY_BUILD="${TALLY_BUILD:-$TALLY_ROOT/build}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
# ccache hashes paths relative to the checkout, so another clone reuses this one's cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$TALLY_ROOT}"

TALLY_PACKAGES=(
  g++ cmake ninja-build ccache pkg-config clang-format
  libpqxx-dev libpq-dev libboost-dev libprotobuf-dev protobuf-compiler libabsl-dev
  libspdlog-dev libssl-dev doctest-dev libcli11-dev libsimdjson-dev prometheus-cpp-dev tzdata
  postgresql-15 chromium
)

say() { echo "[tally] $*" >&2; }
die() { echo "[tally] error: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $*"; fi
}

tally_install_deps() {
  tally_install_packages
  # Node may come from elsewhere with its own npm; Debian's npm only when there is none.
  if ! command -v npm >/dev/null; then
    say "installing: nodejs npm"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >&2
  fi
  # puppeteer-core, which drives chromium in the dashboard test, at the versions locked.
  if ! (cd "$TALLY_ROOT/tests/dashboard" && npm ls --silent >/dev/null 2>&1); then
    say "installing tests/dashboard's npm packages (npm ci)"
    (cd "$TALLY_ROOT/tests/dashboard" && npm ci --no-audit --no-fund >&2)
  fi
}

tally_install_packages() {
  local missing=()
  for p in "${TALLY_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then say "packages: all present"; return; fi
  say "installing: ${missing[*]}"
  # Installing postgresql-15 must not create and start Debian's default cluster on :5432;
  # Tally runs its own private clusters.
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    as_root mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" >&2
}

tally_build() {
  local type="${1:-Release}"
  say "building ($type) in $TALLY_BUILD"
  cmake -S "$TALLY_ROOT" -B "$TALLY_BUILD" -G Ninja -DCMAKE_BUILD_TYPE="$type" >&2
  cmake --build "$TALLY_BUILD" -j "$(nproc)" >&2
}

# Runs a PostgreSQL binary as the postgres user when we are root (initdb refuses root).
pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# tally_pg_start DIR: creates (first time) and starts a cluster in DIR/data, listening only on
# a Unix socket in DIR/socket. Sets PG_URL (superuser conninfo) and PG_PIDFILE.
tally_pg_start() {
  local dir="$1"
  mkdir -p "$dir/socket"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir" "$dir/socket"
    pg_as_owner test -x "$dir" || die "the postgres user cannot reach $dir; use a directory it can traverse"
  fi
  if [ ! -s "$dir/data/PG_VERSION" ]; then
    say "initdb in $dir/data"
    pg_as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  # No TCP listener at all: the socket lives in a private directory, so the port only names the
  # socket file and cannot collide with another server. Pick one not used in this directory.
  local port=$(( 20000 + RANDOM % 40000 ))
  while [ -e "$dir/socket/.s.PGSQL.$port" ]; do port=$(( port + 1 )); done
  say "starting PostgreSQL (socket $dir/socket, port $port)"
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
    -o "-c listen_addresses='' -k $dir/socket -p $port -c max_connections=300" >&2 \
    || { tail -20 "$dir/postgres.log" >&2; die "PostgreSQL did not start"; }
  PG_PIDFILE="$dir/data/postmaster.pid"
  PG_URL="host=$dir/socket port=$port user=postgres dbname=postgres"
  export PG_URL PG_PIDFILE
}

# Starts a hot standby of the cluster in $1 (started by tally_pg_start) in the directory $2:
# pg_basebackup -R (streaming replication, standby.signal written), then its own private socket.
# Sets REPLICA_URL and REPLICA_PIDFILE; stop it like any cluster, by its PID.
tally_pg_start_replica() {
  local primary="$1" dir="$2"
  local primary_port
  primary_port="$(sed -n 4p "$primary/data/postmaster.pid")"
  mkdir -p "$dir/socket"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir" "$dir/socket"; fi
  pg_as_owner "$PG_BIN/pg_basebackup" -h "$primary/socket" -p "$primary_port" -U postgres \
    -D "$dir/data" -R -X stream -c fast >"$dir/basebackup.log" 2>&1 \
    || { cat "$dir/basebackup.log" >&2; die "pg_basebackup failed"; }
  local port=$(( 20000 + RANDOM % 40000 ))
  while [ -e "$dir/socket/.s.PGSQL.$port" ]; do port=$(( port + 1 )); done
  say "starting a hot standby (socket $dir/socket, port $port)"
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
    -o "-c listen_addresses='' -k $dir/socket -p $port -c max_connections=300 -c hot_standby=on" >&2 \
    || { tail -20 "$dir/postgres.log" >&2; die "the standby did not start"; }
  REPLICA_PIDFILE="$dir/data/postmaster.pid"
  REPLICA_URL="host=$dir/socket port=$port user=postgres dbname=postgres"
  export REPLICA_URL REPLICA_PIDFILE
}

# Stops the cluster started by tally_pg_start, by the PID it recorded.
tally_pg_stop() {
  [ -n "${PG_PIDFILE:-}" ] && [ -s "$PG_PIDFILE" ] || return 0
  local pid
  pid="$(head -1 "$PG_PIDFILE")"
  say "stopping PostgreSQL (pid $pid)"
  kill -INT "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
