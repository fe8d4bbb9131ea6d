#!/usr/bin/env bash
# Rewrites Wolverine's pre-generated handler code (src/Host/Internal/Generated) after handlers change.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -z "${BILLING_DB:-}" ] && "$root/scripts/db.sh" start
rm -rf "$root/src/Host/Internal/Generated"
cd "$root/src/Host"
dotnet run -- codegen write
