"""The web dashboard: server-rendered pages and a small JSON API over the same use cases as the
command line (``acchub_mailbot.app``). No page or route holds a query or a business rule."""
