"""The ``acchub-mailbot`` command line: one module per command group, each thin over ``app``."""

from acchub_mailbot.cli.main import main

__all__ = ["main"]
