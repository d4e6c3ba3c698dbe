"""Allows ``python -m acchub_mailbot``."""

from acchub_mailbot.cli.main import main

if __name__ == "__main__":
    main()
