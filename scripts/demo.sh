#!/usr/bin/env bash
# Set up acchub-mailbot on this machine and run it once against a throwaway local IMAP server
# seeded with the sample emails in samples/. Uses the embedded defaults: SQLite, no SMTP server
# (the digest is written to .demo/digests/ as .eml and .html).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "need root (or sudo) to install $*" >&2; exit 1; fi; }

if ! command -v dovecot >/dev/null && [ ! -x /usr/sbin/dovecot ]; then
  echo "==> installing Dovecot (the local IMAP server for the demo)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
echo "==> installing acchub-mailbot into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
exec .venv/bin/python scripts/demo.py "$@"
