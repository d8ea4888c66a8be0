#!/usr/bin/env bash
# What the labelling app's browser and PostgreSQL tests need, installed when absent. Usage:
#
#   scripts/test-label-deps.sh                  # install Debian's chromium and postgresql if absent
#   scripts/test-label-deps.sh --postgres-url   # the same, then start a throwaway PostgreSQL
#                                               # (scripts/postgres.sh) and print only its URL
#
# For scripts/test.sh:  export RBC_TEST_POSTGRES_URL="$(scripts/test-label-deps.sh --postgres-url)"
# (stop it with scripts/postgres.sh stop). Progress goes to stderr, so stdout is the URL alone.
#
# Installing needs root and apt (Debian, as in .ci/run). Without them nothing is installed and
# the script says so: the browser test then skips ("Debian's chromium is not installed") and
# the PostgreSQL store tests skip ("RBC_TEST_POSTGRES_URL is not set"), naming what is missing.
# `apt-get update` runs once, quietly, and only when a package has to be installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "test-label-deps.sh: $*" >&2; }

have_chromium() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
have_postgresql() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }

missing=()
have_chromium || missing+=(chromium)
have_postgresql || missing+=(postgresql)

if ((${#missing[@]})); then
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        say "not installing ${missing[*]} (needs root and apt-get); their tests will be skipped"
    else
        say "installing ${missing[*]} from Debian's packages (once)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

if [[ "${1:-}" == "--postgres-url" ]]; then
    have_postgresql || { say "no PostgreSQL to start"; exit 1; }
    scripts/postgres.sh start
elif [[ -n "${1:-}" ]]; then
    say "usage: $0 [--postgres-url]"
    exit 2
fi
