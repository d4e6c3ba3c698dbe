"""``acchub-mailbot web``: serve the dashboard over the configured database.

The web process never polls: it reads and writes the same database as the service. It binds to
``web.host``/``web.port`` (127.0.0.1:8080 by default); ``--host``/``--port`` override them.
"""

from __future__ import annotations

from pathlib import Path

import click

from acchub_mailbot.cli.common import _config_option, _open_app


@click.command()
@_config_option
@click.option("--host", help="Address to bind (default: web.host, 127.0.0.1).")
@click.option("--port", type=int, help="Port to bind (default: web.port, 8080).")
def web(config_path: Path | None, host: str | None, port: int | None) -> None:
    """Serve the web dashboard until Ctrl-C."""
    from acchub_mailbot.web.serve import serve_forever

    app = _open_app(config_path)
    settings = app.settings.web
    bind_host, bind_port = host or settings.host, port if port is not None else settings.port
    click.echo(f"dashboard on http://{bind_host}:{bind_port}/ (Ctrl-C stops it)")
    try:
        started = serve_forever(app, bind_host, bind_port)
    finally:
        app.close()
    if not started:
        raise click.ClickException(
            f"could not listen on {bind_host}:{bind_port}: is another program using the port? "
            "Choose another with --port or web.port."
        )
    click.echo("dashboard stopped")
