#!/usr/bin/env bash
# The project-local RabbitMQ node: `scripts/broker.sh start|stop|status|url|add-vhost NAME`.
# Data lives under .data/rabbitmq (git-ignored; under /var/tmp when the rabbitmq user cannot reach the
# checkout, as for a 0700 home); it listens on 127.0.0.1 only, on BILLING_AMQP_PORT
# (default 56729), with Erlang distribution and epmd on ports and an address of its own. The user is
# `billing` with a password generated on first start (kept in .data/rabbitmq/password); the guest
# user is removed. Installs Debian's rabbitmq-server when absent, without starting Debian's own node.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${BILLING_AMQP_PORT:-56729}"
case "$port" in ''|*[!0-9]*) echo "broker: BILLING_AMQP_PORT='$port' is not a port number" >&2; exit 2 ;; esac

# The node runs as the rabbitmq user, which must reach its data folder; when the checkout lives where
# it cannot (a 0700 home or mktemp -d), the node's folder is one under /var/tmp named after the
# checkout, as scripts/db.sh does for PostgreSQL. Decided once the user exists (after the install).
node_dir() {
  if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1 && ! su rabbitmq -s /bin/sh -c "test -x '$root'" 2>/dev/null; then
    echo "/var/tmp/billing-rabbitmq-$(echo "$root" | md5sum | cut -c1-8)"
  else
    echo "$root/.data/rabbitmq"
  fi
}

# Everything that makes this node its own: name, addresses, ports, files. Debian's scripts run the
# server and rabbitmqctl as the rabbitmq user (whose HOME holds the Erlang cookie they share), so
# the data folder belongs to that user. Erlang distribution listens on 127.0.0.1 only, on a port of
# its own, and so does the node's epmd.
configure_node() {
  dir="$(node_dir)"
  dist_port=$((port - 1000))
  export RABBITMQ_NODENAME="billing-$port@localhost"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$port"
  export RABBITMQ_DIST_PORT="$dist_port"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} -kernel inet_dist_listen_min $dist_port -kernel inet_dist_listen_max $dist_port"
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export ERL_EPMD_ADDRESS=127.0.0.1
  export ERL_EPMD_PORT=$((port - 1001))
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
}

ensure_installed() {
  command -v rabbitmq-server >/dev/null 2>&1 && return 0
  echo "broker: rabbitmq-server not found; installing Debian's rabbitmq-server package" >&2
  [ "$(id -u)" = 0 ] || { echo "broker: run as root (or install rabbitmq-server) first" >&2; exit 1; }
  # Keep Debian's own node (all interfaces, guest user) from starting during the install.
  local policy=/usr/sbin/policy-rc.d had_policy=0
  [ -e "$policy" ] && had_policy=1
  [ "$had_policy" = 1 ] || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; }
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >&2
  [ "$had_policy" = 1 ] || rm -f "$policy"
}

ctl() { rabbitmqctl -q "$@"; }

running() { [ -f "$RABBITMQ_PID_FILE" ] && kill -0 "$(cat "$RABBITMQ_PID_FILE")" 2>/dev/null && ctl status >/dev/null 2>&1; }

port_holder() {
  command -v ss >/dev/null 2>&1 || return 1
  ss -ltnpH "sport = :$port" 2>/dev/null | grep -oE 'users:\(\("[^"]+",pid=[0-9]+' | head -1 | sed -E 's/users:\(\("([^"]+)",pid=([0-9]+)/\1 (pid \2)/'
}

# What the node said when it did not start: its start output and the last lines of its logs, or
# that it wrote none (then it could not reach its folder, or died before logging).
node_log() {
  local said=0 f
  for f in "$dir/log/start.out" "$dir/log/"*.log; do
    [ -s "$f" ] || continue
    echo "--- $f" >&2
    tail -20 "$f" >&2
    said=1
  done
  [ "$said" = 1 ] || echo "broker: the node wrote no log in $dir/log (owner $(stat -c %U "$dir" 2>/dev/null || echo unknown)); try: sudo -u rabbitmq test -w '$dir/log'" >&2
}

start() {
  mkdir -p "$root/.data"
  # One start at a time (the test script starts the node in the background while the build runs,
  # and the tests ask for it again): a second caller waits here, then finds it running.
  exec 9>"$root/.data/.rabbitmq-start.lock"
  flock 9
  ensure_installed
  configure_node
  mkdir -p "$dir/mnesia" "$dir/log"
  chmod 750 "$dir"
  id rabbitmq >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && chown -R rabbitmq:rabbitmq "$dir"
  if running; then echo "broker: already running on 127.0.0.1:$port" >&2; return 0; fi
  if holder="$(port_holder)" && [ -n "$holder" ]; then
    echo "broker: port $port on 127.0.0.1 is already held by $holder; choose another with BILLING_AMQP_PORT, e.g. BILLING_AMQP_PORT=$((port + 10)) ./scripts/test.sh" >&2
    exit 1
  fi
  [ -f "$dir/password" ] || { head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$dir/password"; chmod 600 "$dir/password"; chown root "$dir/password" 2>/dev/null || true; }
  # No plugins (no management listener on other ports); the default user is created and removed below.
  echo "[]." >"$RABBITMQ_ENABLED_PLUGINS_FILE"
  cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$port
loopback_users.guest = true
log.file.level = warning
CONF
  rm -f "$dir/log/start.out"
  # 9>&-: the node must not inherit the start lock, or it would hold it for as long as it runs.
  if ! rabbitmq-server -detached >"$dir/log/start.out" 2>&1 9>&-; then
    echo "broker: rabbitmq-server -detached failed; its output:" >&2
    node_log
    exit 1
  fi
  # Wait for the node to answer (rabbitmqctl wait reads the pid file the server writes).
  if ! rabbitmqctl -q wait --timeout 60 "$RABBITMQ_PID_FILE" >"$dir/log/wait.out" 2>&1; then
    echo "broker: the node did not start within 60 s (rabbitmqctl wait: $(tail -1 "$dir/log/wait.out")); its log:" >&2
    node_log
    exit 1
  fi
  local password; password="$(cat "$dir/password")"
  if ! ctl list_users 2>/dev/null | grep -q '^billing'; then
    ctl add_user billing "$password" >/dev/null
    ctl set_user_tags billing administrator >/dev/null
    ctl set_permissions -p / billing '.*' '.*' '.*' >/dev/null
  fi
  ctl delete_user guest >/dev/null 2>&1 || true
  echo "broker: started on 127.0.0.1:$port (data in $dir)" >&2
}

stop() {
  command -v rabbitmqctl >/dev/null 2>&1 || exit 0
  configure_node
  [ -d "$dir" ] || exit 0
  if running; then ctl stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1 || true; fi
  # The node leaves its epmd behind: stop the one on this node's own epmd port.
  command -v epmd >/dev/null 2>&1 && epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
  echo "broker: stopped" >&2
}

url() {
  configure_node
  # The default virtual host "/" is written %2F, as the AMQP URI spec says (an empty path would be the vhost "").
  local vhost="${1:-%2F}"
  [ -f "$dir/password" ] || { echo "broker: not initialised yet (run scripts/broker.sh start)" >&2; exit 1; }
  echo "amqp://billing:$(cat "$dir/password")@127.0.0.1:$port/$vhost"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) if command -v rabbitmqctl >/dev/null 2>&1 && { configure_node; running; }; then echo "broker: running on 127.0.0.1:$port"; else echo "broker: not running"; exit 3; fi ;;
  url) url "${2:-}" ;;
  add-vhost)
    name="${2:?usage: scripts/broker.sh add-vhost NAME}"
    configure_node
    ctl add_vhost "$name" >/dev/null 2>&1 || true
    ctl set_permissions -p "$name" billing '.*' '.*' '.*' >/dev/null
    url "$name" ;;
  *) echo "usage: scripts/broker.sh start|stop|status|url [VHOST]|add-vhost NAME" >&2; exit 2 ;;
esac
