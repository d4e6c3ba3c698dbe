"""The exception tree, in one place.

Normal outcomes (an invitation registered, a look-alike rejected) are values, never exceptions.
Exceptions are for faults::

    AcchubError
    ├── ConfigError          the configuration is wrong; start-up stops and names the key
    ├── NotFound             a client or message the user named does not exist
    ├── Refused              the request breaks a rule (a client URL the rules refuse, …)
    ├── TransientError       worth retrying later: network, timeouts, a locked database
    │   ├── MailboxUnavailable   IMAP connection, login or SELECT failed
    │   ├── DatabaseUnavailable  the database cannot be opened or migrated
    │   └── DeliveryFailed       SMTP refused or could not be reached
    └── PermanentError       retrying will not help: the message goes to quarantine
"""

from __future__ import annotations


class AcchubError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(AcchubError):
    """The configuration is invalid; the message names the key and the fix."""


class NotFound(AcchubError, LookupError):
    """Nothing has the ID or URL the user gave; the message says what was looked for."""


class Refused(AcchubError, ValueError):
    """The request was understood and refused by a rule; the message names the rule."""


class TransientError(AcchubError):
    """A fault that may go away by itself; the operation is retried with backoff."""


class MailboxUnavailable(TransientError):
    """The IMAP server could not be reached, refused the login, or the folder is missing."""


class DatabaseUnavailable(TransientError):
    """The database could not be opened; the message hides the password and says what to check."""


class DeliveryFailed(TransientError):
    """The SMTP server could not be reached or refused the digest."""


class PermanentError(AcchubError):
    """A fault tied to one message that retrying cannot fix."""
