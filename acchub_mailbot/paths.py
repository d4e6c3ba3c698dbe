"""Where the package's own files are, wherever the module that needs them sits in the tree.

Templates and the example config live at the checkout's top level and are packed into the wheel
beside the package, so their place depends on how acchub-mailbot was installed. Everything that
looks for a shipped file asks here, so that moving a module never breaks a relative path.
"""

from __future__ import annotations

from pathlib import Path

#: The ``acchub_mailbot`` package directory.
PACKAGE_DIR = Path(__file__).resolve().parent
#: The directory that holds the package: a checkout's root, or ``site-packages``.
PACKAGE_PARENT = PACKAGE_DIR.parent
#: Gettext catalogues for the digest and the confirmation replies.
LOCALE_DIR = PACKAGE_DIR / "locale"
#: Alembic's script directory.
MIGRATIONS_DIR = PACKAGE_DIR / "store" / "migrations"


def _shipped(name: str) -> Path:
    """A file packed into the wheel beside the package, else the checkout's top-level copy."""
    installed = PACKAGE_DIR / name
    if installed.exists():
        return installed
    return PACKAGE_PARENT / name


def templates_dir() -> Path:
    """The shipped Jinja templates (``templates/`` in a checkout)."""
    return _shipped("templates")


def example_config() -> Path:
    """The commented starter config that ``init-config`` copies."""
    return _shipped("config.example.yaml")
