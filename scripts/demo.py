"""Run acchub-mailbot once against a throwaway Dovecot seeded with the sample emails.

Everything lives in ``.demo/``: the IMAP server's files, the SQLite database, the config and the
digest. Run it again to start from scratch.

With ``--web`` it then runs the service with the dashboard on 127.0.0.1:8080 (``--port``) over
the same database and IMAP server, with an admin account whose password is made for this run
and printed, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers.dovecot import DovecotServer  # noqa: E402 - needs the path set above
from tests.servers.tls import make_tls_files  # noqa: E402

ADMIN = "admin@firm.example"


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/demo.sh",
        description="Run acchub-mailbot once on the sample emails against a throwaway IMAP "
        "server, on SQLite, writing the digest to .demo/digests/.",
    )
    parser.add_argument(
        "--web",
        action="store_true",
        help="then keep the service running with the web dashboard, until Ctrl-C",
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="the dashboard's port with --web (default 8080)"
    )
    return parser.parse_args(argv)


def serve(cli: list[str], config: Path, env: dict[str, str], port: int) -> None:
    """The service with the dashboard, until Ctrl-C; the admin's password is new each run."""
    password = secrets.token_urlsafe(12)
    subprocess.run(
        [*cli, "users", "add", ADMIN, "--role", "admin", "--password-stdin", "-c", str(config)],
        input=password + "\n", text=True, env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    with config.open("a", encoding="utf-8") as handle:
        handle.write(f"web:\n  enabled: true\n  host: 127.0.0.1\n  port: {port}\n")
    print(f"\n==> the dashboard: http://127.0.0.1:{port}/")
    print(f"    sign in as {ADMIN} with the password {password} (made for this run only)")
    print("    the service keeps polling the demo mailbox; Ctrl-C stops both")
    service = subprocess.Popen([*cli, "run", "-c", str(config)], env=env)
    try:
        service.wait()
    except KeyboardInterrupt:  # the terminal sent SIGINT to the service as well
        try:
            service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            service.send_signal(signal.SIGKILL)
            service.wait()
    print("==> stopped")


def main(argv: list[str]) -> int:
    options = arguments(argv)
    demo = ROOT / ".demo"
    shutil.rmtree(demo, ignore_errors=True)
    demo.mkdir()
    tls_dir = demo / "tls"
    tls_dir.mkdir()
    tls_dir.chmod(0o755)
    print("==> starting a throwaway IMAP server on 127.0.0.1")
    with DovecotServer(tls=make_tls_files(tls_dir)) as server:
        account = server.new_account("accountant")
        samples = sorted((ROOT / "samples").glob("*.eml"))
        for sample in samples:
            account.append(sample.read_bytes())
        print(f"    {len(samples)} sample emails delivered to {account.username}")
        config = demo / "config.yaml"
        config.write_text(
            f"""\
database:
  url: sqlite:///acchub.db
mailboxes:
  - name: demo
    imap:
      host: {account.host}
      port: {account.port}
      security: starttls
      username: {account.username}
      password_env: ACCHUB_DEMO_PASSWORD
      ca_file: {account.ca_file}
    digest_to: [you@firm.example]
digest:
  from: acchub-mailbot@firm.example
  schedule: immediate
  output_dir: digests
verification:
  live_check: false
""",
            encoding="utf-8",
        )
        config.chmod(0o600)
        env = {**os.environ, "ACCHUB_DEMO_PASSWORD": account.password}
        cli = [sys.executable, "-m", "acchub_mailbot"]
        print("==> acchub-mailbot run --once")
        subprocess.run([*cli, "run", "--once", "-c", str(config)], env=env, check=True)
        print("\n==> acchub-mailbot clients list")
        subprocess.run([*cli, "clients", "list", "-c", str(config)], env=env, check=True)
        digests = sorted((demo / "digests").glob("*.html"))
        print()
        for digest in digests:
            print(
                f"==> the digest: {digest} (open it in a browser; the .eml beside it is the mail)"
            )
        print(
            f"==> try: ACCHUB_DEMO_PASSWORD=x .venv/bin/acchub-mailbot clients show 1 -c {config}"
        )
        if options.web:
            serve(cli, config, env, options.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
