#!/usr/bin/env bash
# The project's one test command, used locally and by CI (.ci/run):
#
#   ./scripts/test.sh               lint, type-check, then the whole suite on SQLite and PostgreSQL
#   ./scripts/test.sh -k imap -x    extra arguments go to both pytest runs
#
# On a fresh Debian/Ubuntu machine it first installs what the suite needs: the Dovecot IMAP
# server and Chromium (apt), a Python >= 3.11 virtualenv in .venv with the project and its
# test extra, and it starts the local PostgreSQL cluster if one is installed but stopped.
#
# Environment:
#   ACCHUB_TEST_DATABASE_URL  PostgreSQL server for the second pytest run
#                             (default postgresql://root@127.0.0.1:5432/test)
#   CI=true                   a missing PostgreSQL server fails the run instead of a warning
#
# Every phase runs even if an earlier one failed; the summary lists the failures and the exit
# status is non-zero if there were any. pytest finding no tests (exit 5) counts as a failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
PG_HOST=127.0.0.1
PG_PORT=5432
PG_URL="${ACCHUB_TEST_DATABASE_URL:-postgresql://root@${PG_HOST}:${PG_PORT}/test}"
APT_PACKAGES=(dovecot-imapd chromium)

failures=()
phase_number=0

header() {
    phase_number=$((phase_number + 1))
    printf '\n==================== [%d] %s ====================\n' "$phase_number" "$1"
}

note() { printf '%s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }

# Run "$@" as a named phase; record a failure instead of stopping, so one report shows all.
run_phase() {
    local name=$1
    shift
    header "$name"
    local status=0
    "$@" || status=$?
    if [[ $status -eq 0 ]]; then
        note "--> OK: $name"
    else
        if [[ $status -eq 5 && $name == pytest* ]]; then
            warn "$name collected no tests (pytest exit 5)"
        fi
        note "--> FAILED: $name (exit $status)"
        failures+=("$name")
    fi
}

# Commands needing root: run directly as root, through sudo otherwise (never prompting in CI).
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        if [[ -t 0 && ${CI:-} != true ]]; then sudo "$@"; else sudo -n "$@"; fi
    else
        warn "not root and no sudo: cannot run '$*'"
        return 1
    fi
}

package_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

apt_updated=false
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        warn "apt-get not found: install $* with your system's package manager"
        return 1
    fi
    if [[ $apt_updated == false ]]; then
        as_root apt-get update -q || return 1
        apt_updated=true
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

install_system_packages() {
    local missing=()
    local package
    if ! command -v dpkg-query >/dev/null 2>&1; then
        command -v dovecot >/dev/null 2>&1 || [[ -x /usr/sbin/dovecot ]] ||
            warn "dovecot not found: install the Dovecot 2.3 IMAP server"
        command -v chromium >/dev/null 2>&1 || warn "chromium not found: install Chromium"
        return 0
    fi
    for package in "${APT_PACKAGES[@]}"; do
        if package_installed "$package"; then
            note "present: $package"
        else
            missing+=("$package")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        return 0
    fi
    note "installing: ${missing[*]}"
    apt_install "${missing[@]}"
}

python_ok() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

find_python() {
    local candidate
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

setup_venv() {
    if [[ -x $VENV/bin/python ]]; then
        if ! python_ok "$VENV/bin/python"; then
            warn "$VENV uses Python $("$VENV/bin/python" -V 2>&1); 3.11+ is required: delete $VENV"
            return 1
        fi
        note "using $VENV ($("$VENV/bin/python" -V 2>&1))"
    else
        local python
        if ! python=$(find_python); then
            note "no Python >= 3.11 found; installing python3"
            apt_install python3 python3-venv || return 1
            python=$(find_python) || { warn "no Python >= 3.11 available"; return 1; }
        fi
        if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
            # Debian splits venv/ensurepip into python3-venv (and python3.X-venv).
            local version
            version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
            apt_install python3-venv "python${version}-venv" || apt_install python3-venv || return 1
        fi
        note "creating $VENV with $python ($("$python" -V 2>&1))"
        "$python" -m venv "$VENV" || return 1
        # A distribution's bundled pip may predate editable installs from pyproject.toml.
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip ||
            return 1
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test]'
}

postgres_answers() {
    (exec 3<>"/dev/tcp/$PG_HOST/$PG_PORT") 2>/dev/null
}

postgres_available=false
start_postgres() {
    if postgres_answers; then
        note "PostgreSQL answers on $PG_HOST:$PG_PORT"
        postgres_available=true
        return 0
    fi
    if command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
        local version
        for version in $(ls /etc/postgresql); do
            note "starting PostgreSQL cluster $version/main"
            as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
                warn "could not start PostgreSQL $version/main"
        done
        local _
        for _ in $(seq 1 30); do
            if postgres_answers; then
                note "PostgreSQL answers on $PG_HOST:$PG_PORT"
                postgres_available=true
                return 0
            fi
            sleep 0.5
        done
    fi
    warn "no PostgreSQL server on $PG_HOST:$PG_PORT (is the postgresql package installed?);" \
        "the PostgreSQL test run will be skipped"
    return 0
}

pytest_sqlite() {
    env -u ACCHUB_TEST_DATABASE_URL "$VENV/bin/python" -m pytest "$@"
}

pytest_postgres() {
    ACCHUB_TEST_DATABASE_URL=$PG_URL "$VENV/bin/python" -m pytest "$@"
}

run_phase "system packages (${APT_PACKAGES[*]})" install_system_packages
run_phase "python virtualenv and dependencies" setup_venv
if [[ ! -x $VENV/bin/python ]]; then
    note "cannot continue without $VENV"
    exit 1
fi
run_phase "PostgreSQL server" start_postgres
run_phase "ruff check" "$VENV/bin/ruff" check .
run_phase "ruff format --check" "$VENV/bin/ruff" format --check .
run_phase "mypy acchub_mailbot" "$VENV/bin/mypy" acchub_mailbot
run_phase "pytest on SQLite" pytest_sqlite "$@"
if [[ $postgres_available == true ]]; then
    run_phase "pytest on PostgreSQL ($PG_URL)" pytest_postgres "$@"
else
    header "pytest on PostgreSQL"
    note "--> SKIPPED: no PostgreSQL server on $PG_HOST:$PG_PORT"
    if [[ ${CI:-} == true ]]; then
        failures+=("pytest on PostgreSQL (no server)")
    fi
fi

printf '\n==================== summary ====================\n'
if [[ ${#failures[@]} -eq 0 ]]; then
    note "all phases passed"
    exit 0
fi
note "failed phases:"
printf '  - %s\n' "${failures[@]}"
exit 1
