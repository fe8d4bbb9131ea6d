#!/usr/bin/env bash
# The project-local PostgreSQL cluster: `scripts/db.sh start|stop|status|url`.
# Data lives under .data/pg (git-ignored); it listens on 127.0.0.1 only.
# Installs Debian's postgresql package when no PostgreSQL binaries are found, and runs
# initdb/pg_ctl as the `postgres` user when invoked as root (PostgreSQL refuses root).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${BILLING_PG_PORT:-54329}"
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

start() {
  ensure_binaries
  local dir; dir="$(cluster_dir)"
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
CONF
  fi
  if as_pg "'$bindir/pg_ctl' -D '$dir/data' status" >/dev/null 2>&1; then
    echo "db: already running on 127.0.0.1:$port" >&2
  else
    as_pg "'$bindir/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 start" >/dev/null \
      || { tail -20 "$dir/server.log" >&2; exit 1; }
    echo "db: started on 127.0.0.1:$port" >&2
  fi
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
