#!/usr/bin/env bash
# The project-local PostgreSQL cluster: `scripts/db.sh start|stop|status|url`.
# Data lives under .data/pg (git-ignored); it listens on 127.0.0.1 only, on BILLING_PG_PORT
# (default 54329) whatever port it was initialised with. `start` refuses, saying who holds it,
# when that port is taken by anything but this checkout's own cluster.
# Installs Debian's postgresql package when no PostgreSQL binaries are found, and runs
# initdb/pg_ctl as the `postgres` user when invoked as root (PostgreSQL refuses root).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${BILLING_PG_PORT:-54329}"
[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || { echo "db: BILLING_PG_PORT '$port' is not a TCP port (1-65535)" >&2; exit 2; }
data_parent="$root/.data"

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}

ensure_binaries() {
  if ! bindir="$(find_bindir)"; then
    echo "db: no PostgreSQL binaries found; installing Debian's postgresql package" >&2
    [ "$(id -u)" = 0 ] || { echo "db: run as root (or install postgresql) first" >&2; exit 1; }
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    # Debian's package starts its own cluster on 5432; this project does not use it.
    bindir="$(find_bindir)"
  fi
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}

cluster_dir() {
  # The postgres user must be able to reach the data folder; when the checkout lives where it
  # cannot (a private home, say), fall back to a folder under /var/tmp named after the checkout.
  if [ "$(id -u)" = 0 ] && ! su postgres -s /bin/bash -c "test -x '$root'" 2>/dev/null; then
    echo "/var/tmp/billing-pg-$(echo "$root" | md5sum | cut -c1-8)"
  else
    echo "$data_parent/pg"
  fi
}

# The pid and port of this checkout's cluster when it runs (from its postmaster.pid), else fails.
own_cluster() {
  local pidfile="$1/data/postmaster.pid" pid
  [ -f "$pidfile" ] || return 1
  pid="$(head -1 "$pidfile")"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1 # a stale file from a crash: pg_ctl start copes
  echo "$pid $(sed -n 4p "$pidfile")"
}

# Who listens where a cluster on 127.0.0.1:$1 would, in words; fails when nobody does.
port_holder() {
  local p="$1"
  if command -v ss >/dev/null 2>&1; then
    local line pid name data
    # Only listeners that clash with 127.0.0.1: that address itself or a wildcard (IPv4 or dual-stack).
    line="$(ss -ltnpH "sport = :$p" 2>/dev/null | awk -v p="$p" '$4 ~ ("^(127\\.0\\.0\\.1|0\\.0\\.0\\.0|\\*|\\[::\\]|\\[::ffff:127\\.0\\.0\\.1\\]):" p "$") { print; exit }')"
    [ -n "$line" ] || return 1
    pid="$(grep -o 'pid=[0-9]*' <<<"$line" | head -1 | cut -d= -f2 || true)"
    name="$(grep -o '(("[^"]*"' <<<"$line" | head -1 | cut -d'"' -f2 || true)"
    if [ -z "$pid" ]; then
      echo "another process"
    elif [ "$name" = postgres ] && data="$(readlink "/proc/$pid/cwd" 2>/dev/null)"; then
      echo "the PostgreSQL cluster of $data (pid $pid)"
    else
      echo "${name:-another process} (pid $pid)"
    fi
    return 0
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && { echo "another process"; return 0; }
  return 1
}

start() {
  local dir; dir="$(cluster_dir)"
  local own
  if own="$(own_cluster "$dir")"; then
    if [ "${own#* }" = "$port" ]; then echo "db: already running on 127.0.0.1:$port" >&2; return 0; fi
    echo "db: this checkout's cluster ($dir/data) is already running on 127.0.0.1:${own#* }, not on BILLING_PG_PORT=$port; stop it first with scripts/db.sh stop, or keep BILLING_PG_PORT=${own#* }." >&2
    exit 1
  fi
  # Before anything is installed or initialised: a second checkout on this machine finds the port taken by the first.
  local holder
  if holder="$(port_holder "$port")"; then
    local free=$((port + 1))
    while [ "$free" -lt $((port + 50)) ] && port_holder "$free" >/dev/null; do free=$((free + 1)); done
    echo "db: port $port on 127.0.0.1 is already held by $holder, not by this checkout's cluster ($dir/data), so it cannot start there; choose another port with BILLING_PG_PORT, e.g. BILLING_PG_PORT=$free ./billing ... or BILLING_PG_PORT=$free ./scripts/test.sh" >&2
    exit 1
  fi
  ensure_binaries
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir" && { [ -d "$data_parent" ] && chown postgres "$data_parent" || true; }
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    echo "db: initialising a cluster in $dir/data" >&2
    as_pg "'$bindir/initdb' -D '$dir/data' -U postgres -A trust -E UTF8 --locale=C.UTF-8 >'$dir/initdb.log' 2>&1" \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 512MB
fsync = on
synchronous_commit = on
# For profiling (billing bench, docs): per-statement timings in pg_stat_statements.
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = top
# Large values (queued ingest batches, traffic events) compressed with lz4: pglz cost about 9 ms
# for each 250 KB batch written to Wolverine's inbox (docs/performance.md).
default_toast_compression = lz4
CONF
  fi
  # -p: BILLING_PG_PORT wins over the port the cluster was initialised with.
  as_pg "'$bindir/pg_ctl' -D '$dir/data' -o '-p $port' -l '$dir/server.log' -w -t 60 start" >/dev/null \
    || { tail -20 "$dir/server.log" >&2; exit 1; }
  echo "db: started on 127.0.0.1:$port" >&2
}

stop() {
  local dir; dir="$(cluster_dir)"
  bindir="$(find_bindir)" || exit 0
  [ -f "$dir/data/PG_VERSION" ] || exit 0
  as_pg "'$bindir/pg_ctl' -D '$dir/data' -m fast stop" >/dev/null 2>&1 || true
  echo "db: stopped" >&2
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) bindir="$(find_bindir)" && as_pg "'$bindir/pg_ctl' -D '$(cluster_dir)/data' status" ;;
  url) echo "Host=127.0.0.1;Port=$port;Username=postgres;Database=billing" ;;
  *) echo "usage: scripts/db.sh start|stop|status|url" >&2; exit 2 ;;
esac
