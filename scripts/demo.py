"""Run acchub-mailbot once against a throwaway Dovecot seeded with the sample emails.

Everything lives in ``.demo/``: the IMAP server's files, the SQLite database, the config and the
digest. Run it again to start from scratch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers.dovecot import DovecotServer  # noqa: E402 - needs the path set above
from tests.servers.tls import make_tls_files  # noqa: E402


def main() -> int:
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
        print(f"==> the digest: {digest} (open it in a browser; the .eml beside it is the email)")
    print(f"==> try: ACCHUB_DEMO_PASSWORD=x .venv/bin/acchub-mailbot clients show 1 -c {config}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
