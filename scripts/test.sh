#!/usr/bin/env bash
# Runs every test of the solution on a real PostgreSQL (the project-local cluster, started and,
# if need be, installed by scripts/db.sh; BILLING_TEST_DB or a Docker engine take precedence) and a
# real RabbitMQ (the project-local node of scripts/broker.sh).
# Ends with one line "N passed, N failed, N skipped" summed over the test projects.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
if [ -z "${BILLING_TEST_DB:-}" ]; then scripts/db.sh start || exit 1; fi
# Headless Chromium for the console's browser tests (Playwright drives it; it downloads no browser):
# Debian's package, installed with apt-get when missing, as db.sh installs PostgreSQL. Without it the
# console tests fail and say why; they never skip.
chromium="${BILLING_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test: no Chromium at $chromium; installing Debian's chromium package" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2 || echo "test: could not install chromium; the console tests will fail" >&2
  else
    echo "test: no Chromium at $chromium (run as root, or apt-get install chromium); the console tests will fail" >&2
  fi
fi
# RabbitMQ for the broker tests: started (installed if need be) while the build runs; the tests
# wait for it (scripts/broker.sh serialises starts) and fail with its reason if it cannot start.
broker_log="$(mktemp)"
scripts/broker.sh start >"$broker_log" 2>&1 &
log="$(mktemp)"
start=$(date +%s)
dotnet test Billing.sln -nologo "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
wait
sed 's/^/  /' "$broker_log" >&2
sum() { grep -oE "$1: +[0-9]+" "$log" | awk '{ s += $NF } END { print s + 0 }'; }
passed=$(sum Passed); failed=$(sum Failed); skipped=$(sum Skipped)
echo "tests took $(( $(date +%s) - start )) s"
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
rm -f "$log" "$broker_log"
[ "$status" -eq 0 ] && [ "${passed:-0}" -gt 0 ] || exit 1
