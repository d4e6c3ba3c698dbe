"""IMAP in and SMTP out: the only code that talks to mail servers."""
