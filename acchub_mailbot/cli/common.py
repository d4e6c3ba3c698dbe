"""What every command shares: the --config and --json options, loading the config, opening the
application, and printing tables and JSON."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from acchub_mailbot.config import CONFIG_ENV, Settings, insecure_permission_warning, load_settings
from acchub_mailbot.errors import ConfigError, DatabaseUnavailable, NotFound, Refused
from acchub_mailbot.logs import escape_controls, setup_logging

if TYPE_CHECKING:
    from acchub_mailbot.app.runtime import App

F = TypeVar("F", bound=Callable[..., Any])
# The logger keeps the name it had before the package was split into folders: it is part
# of every log line, and operators filter on it.
log = logging.getLogger("acchub_mailbot.cli")


def _config_option(func: F) -> F:
    return click.option(
        "--config",
        "-c",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=CONFIG_ENV,
        help=f"Config file (YAML). Default: ${CONFIG_ENV}.",
    )(func)


def _json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(
        func
    )


class ConfigProblem(click.ClickException):
    """The configuration is invalid: exit code 2, as the module docstring promises."""

    exit_code = 2


def _load(config_path: Path | None) -> Settings:
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        raise ConfigProblem(f"configuration error: {exc}") from None
    path = config_path or Path(os.environ.get(CONFIG_ENV, ""))
    warning = insecure_permission_warning(path, settings) if path.name else None
    if warning:
        log.warning("%s", warning)
    return settings


def config_dir(config_path: Path | None) -> Path:
    """The folder relative paths in the config are read from (token stores, templates)."""
    path = config_path or Path(os.environ.get(CONFIG_ENV, ""))
    return path.resolve().parent if path.name else Path.cwd()


def _open_app(config_path: Path | None) -> App:
    from acchub_mailbot.app.runtime import App

    settings = _load(config_path)
    app = App.open(settings)  # DatabaseUnavailable is shown by the group, see AppGroup
    app.config_dir = config_dir(config_path)
    # Commands close the app themselves, but one that fails half-way (unknown client, refused
    # edit) must not leave pooled database connections open. Disposing the engine again after
    # a close is harmless, unlike a second App.close(), which writes to the database.
    click.get_current_context().call_on_close(app.dispose)
    return app


class AppGroup(click.Group):
    """A command group that shows the application's errors as one line, not a traceback.

    ``NotFound``, ``Refused`` and ``DatabaseUnavailable`` exit 1; ``ConfigError`` exits 2.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise ConfigProblem(f"configuration error: {exc}") from None
        except (NotFound, Refused, DatabaseUnavailable) as exc:
            raise click.ClickException(str(exc)) from None


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=None, default=str))


#: Columns shown whole: a clipped URL is useless to copy.
UNCLIPPED = frozenset({"CLIENT URL"})


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """An aligned plain-text table; values from email are escaped, long ones clipped."""

    def cell(value: Any, header: str) -> str:
        text = "" if value is None else escape_controls(str(value))
        return text if len(text) <= 60 or header in UNCLIPPED else text[:59] + "…"

    body = [[cell(v, h) for v, h in zip(row, headers, strict=True)] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in body
    ]
    return "\n".join(lines)


def _apply_logging(settings: Settings) -> None:
    ctx = click.get_current_context()
    level = ctx.obj.get("log_level") or settings.logging.level
    fmt = ctx.obj.get("log_format") or settings.logging.format
    setup_logging(level.upper(), fmt)
