"""YAML configuration -> frozen, validated settings.

Every problem is reported as a :class:`ConfigError` that names the key (``mailboxes[0].imap.port``)
and says how to fix it, so a bad config stops start-up with one readable message. Secrets never sit
in the file: ``password_env`` names an environment variable and ``password_file`` a file; both are
resolved here into :class:`pydantic.SecretStr` values, which never print their content.

The module is longer than 400 lines because it is the whole schema of ``config.yaml`` in one
place: every key with its default and its check, in the order of ``config.example.yaml``, so
that a key is found by reading one file. The OAuth keys are the exception: they live with the
sign-in code in ``mail/oauth/settings.py``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from acchub_mailbot.core.limits import Limits
from acchub_mailbot.errors import ConfigError
from acchub_mailbot.mail.oauth.settings import (
    MICROSOFT_SMTP_SCOPE,
    SMTP_TOKEN_NAME,
    OAuthSettings,
    default_token_store,
)

CONFIG_ENV = "ACCHUB_CONFIG"
LANGUAGES = ("en", "fr")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _SecretSource(_Model):
    """Shared by IMAP and SMTP: where the password comes from, never the password itself."""

    password_env: str | None = None
    password_file: Path | None = None
    password: SecretStr | None = Field(default=None, exclude=True)

    @field_validator("password", mode="before")
    @classmethod
    def _no_inline_password(cls, value: Any) -> Any:
        # A field validator (not a model validator) so that the error names the key itself,
        # e.g. mailboxes[0].imap.password. Resolved secrets are set with model_copy, which
        # does not validate, so this only ever sees what the file says.
        raise ValueError(
            "a password must not be written in the config file; "
            "use password_env: NAME (an environment variable) or password_file: PATH"
        )

    def resolved(self, where: str, environ: Mapping[str, str]) -> SecretStr | None:
        if self.password_env and self.password_file:
            raise ConfigError(f"{where}: set either password_env or password_file, not both")
        if self.password_env:
            value = environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    f"{where}.password_env: the environment variable {self.password_env} is not "
                    f"set — fix: export {self.password_env}=... before starting, or use "
                    "password_file"
                )
            return SecretStr(value)
        if self.password_file:
            try:
                text = self.password_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"{where}.password_file: cannot read {self.password_file} ({exc.strerror}) — "
                    "fix: check the path and that this user may read it"
                ) from None
            return SecretStr(text.rstrip("\r\n"))
        return None


class DatabaseSettings(_Model):
    url: str = "sqlite:///acchub.db"

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("must be a SQLAlchemy URL such as sqlite:///acchub.db")
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # A PostgreSQL URL may carry a password; reprs end up in logs and tracebacks.
        yield "url", redact_url(self.url)


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


class ServerAction(_Model):
    """What is done on the IMAP server once a message's outcome is committed."""

    type: Literal["flag", "move", "seen", "none"] = "flag"
    flag: str = "$AcchubProcessed"
    folder: str = "Processed"


class ImapSettings(_SecretSource):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 993
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str
    folder: str = "INBOX"
    ca_file: Path | None = None
    verify_tls: bool = True
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    fetch_batch: Annotated[int, Field(ge=1, le=5000)] = 200
    oauth: OAuthSettings | None = None


#: The ``digest_to`` entry meaning "each forwarder gets a digest of their own clients".
DIGEST_TO_FORWARDERS = "forwarders"


def is_address(value: str) -> bool:
    """A plausible email address: local part, ``@``, a dotted domain, no whitespace."""
    local, at, domain = value.partition("@")
    return bool(at and local and "." in domain and not any(c.isspace() for c in value))


class ConfirmSettings(_Model):
    """``confirm:``: the reply telling a forwarder what became of their forward."""

    enabled: bool = False
    max_per_sender_per_hour: Annotated[int, Field(ge=1, le=1000)] = 10


class AccountantSettings(_Model):
    """One ``accountants:`` entry: the language of that accountant's digests and replies."""

    address: str
    language: Literal["en", "fr"] | None = None

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if not is_address(value.strip()):
            raise ValueError(f"{value!r} is not an email address")
        return value.strip().lower()


class MailboxSettings(_Model):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    imap: ImapSettings
    #: Addresses (admins) and/or the keyword ``forwarders`` (each forwarder, their own digest).
    digest_to: tuple[str, ...] = ()
    language: Literal["en", "fr"] | None = None
    action: ServerAction = ServerAction()
    quarantine_folder: str = "acchub-quarantine"
    enabled: bool = True
    #: Who may forward invitations here: addresses and ``@domain``/``domain`` entries. Unset: the
    #: mailbox's own address and its digest_to addresses.
    forwarders: tuple[str, ...] | None = None
    #: The authserv-id of the receiving server whose Authentication-Results headers count.
    trusted_authserv_id: str | None = None
    #: Accept a listed forwarder when that server left no header (default: do not).
    trust_without_authresults: bool = False
    confirm: ConfirmSettings = ConfirmSettings()
    accountants: tuple[AccountantSettings, ...] = ()

    @field_validator("digest_to", "forwarders", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("digest_to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if address != DIGEST_TO_FORWARDERS and not is_address(address):
                raise ValueError(
                    f"{address!r} is not an email address (nor the keyword {DIGEST_TO_FORWARDERS})"
                )
        return value

    @field_validator("forwarders")
    @classmethod
    def _forwarder_entries(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for entry in value or ():
            domain = entry.strip().rpartition("@")[2]
            if "." not in domain or any(c.isspace() for c in entry.strip()):
                raise ValueError(
                    f"{entry!r} is neither an email address nor a domain such as @firm.example"
                )
        return value

    @field_validator("trusted_authserv_id")
    @classmethod
    def _authserv_id(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c in value for c in ' ;()"')):
            raise ValueError(
                f"{value!r} is not an authserv-id: give the first word of the "
                "Authentication-Results headers your receiving server adds, e.g. mx.firm.example"
            )
        return value.strip().lower() if value else value

    @field_validator("accountants")
    @classmethod
    def _unique_accountants(
        cls, value: tuple[AccountantSettings, ...]
    ) -> tuple[AccountantSettings, ...]:
        seen: set[str] = set()
        for accountant in value:
            if accountant.address in seen:
                raise ValueError(f"{accountant.address} is listed twice")
            seen.add(accountant.address)
        return value

    @property
    def admin_recipients(self) -> tuple[str, ...]:
        """The digest_to addresses: they get the whole picture (and reports of refused forwards)."""
        return tuple(a for a in self.digest_to if a != DIGEST_TO_FORWARDERS)

    @property
    def digest_to_forwarders(self) -> bool:
        """True when each forwarder gets a digest of their own clients and problems."""
        return DIGEST_TO_FORWARDERS in self.digest_to

    def language_for(self, address: str, default: str) -> str:
        """An accountant's language: their ``accountants`` entry, else the mailbox's, else
        ``default`` (the digest language)."""
        wanted = address.strip().lower()
        for accountant in self.accountants:
            if accountant.address == wanted and accountant.language:
                return accountant.language
        return self.language or default


class SmtpSettings(_SecretSource):
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["ssl", "starttls", "none"] = "starttls"
    username: str | None = None
    ca_file: Path | None = None
    verify_tls: bool = True
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    #: Sign in with OAuth (XOAUTH2, or OAUTHBEARER where offered) instead of a password; the
    #: same keys as ``mailboxes[].imap.oauth``. ``username`` is the mailbox that sends.
    oauth: OAuthSettings | None = None


class DigestSettings(_Model):
    from_: str = Field(default="acchub-mailbot@localhost", alias="from")
    schedule: str = "immediate"
    timezone: str = "UTC"
    language: Literal["en", "fr"] = "en"
    send_empty: bool = False
    templates_dir: Path | None = None
    output_dir: Path | None = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if value != "immediate":
            from apscheduler.triggers.cron import CronTrigger  # only for a cron schedule

            try:
                CronTrigger.from_crontab(value, timezone="UTC")
            except ValueError as exc:
                raise ValueError(
                    f"{value!r} is not 'immediate' nor a 5-field cron expression ({exc})"
                ) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Paris") from None
        return value


class VerificationSettings(_Model):
    live_check: bool = True
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    max_bytes: Annotated[int, Field(ge=1024)] = 262144
    allow_networks: tuple[str, ...] = ()
    ca_file: Path | None = None
    retry_base_seconds: Annotated[float, Field(ge=1)] = 300.0
    retry_max_attempts: Annotated[int, Field(ge=1, le=100)] = 12

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"{net!r} is not a network such as 127.0.0.0/8") from None
        return value


class PollSettings(_Model):
    interval_seconds: Annotated[int, Field(ge=1, le=86400)] = 60
    max_attempts: Annotated[int, Field(ge=1, le=50)] = 5
    retry_base_seconds: Annotated[float, Field(gt=0, le=86400)] | None = None
    lease_seconds: Annotated[int, Field(ge=5, le=86400)] | None = None
    heartbeat_seconds: Annotated[float, Field(ge=0.5, le=300)] = 5.0
    idle: bool = False
    idle_watchdog_seconds: Annotated[float, Field(ge=5, le=1740)] = 120.0
    prefilter_workers: Annotated[int, Field(ge=0, le=64)] | None = None

    @property
    def workers(self) -> int:
        """Prefilter worker processes (default: one when there is a second CPU)."""
        if self.prefilter_workers is not None:
            return self.prefilter_workers
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return 1 if (cpus or 1) > 1 else 0

    @property
    def lease_ttl(self) -> int:
        """How long a mailbox stays claimed by a silent process (default: 3 intervals, >= 60 s)."""
        return self.lease_seconds or max(60, 3 * self.interval_seconds)

    @property
    def missed_heartbeats(self) -> float:
        """Silence after which an instance counts as dead: three heartbeats."""
        return 3 * self.heartbeat_seconds

    @property
    def retry_base(self) -> float:
        """First retry delay of a failing message (default: one poll interval)."""
        return self.retry_base_seconds or float(self.interval_seconds)


class HttpSettings(_Model):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9464


class OidcSettings(_Model):
    """``web.oidc``: single sign-on with OpenID Connect (the authorization code flow with PKCE).

    For Microsoft Entra ID, ``issuer`` is ``https://login.microsoftonline.com/TENANT-ID/v2.0``
    of the firm's own tenant; any issuer with a discovery document works. The signed-in email
    (the first of ``email_claims`` the ID token carries) must belong to an account made with
    ``users add``: single sign-on never creates one.
    """

    issuer: str
    client_id: Annotated[str, Field(min_length=1)]
    client_secret_env: str | None = None
    client_secret_file: Path | None = None
    client_secret: SecretStr | None = Field(default=None, exclude=True)
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    email_claims: tuple[str, ...] = ("email", "preferred_username")
    label: str = "Microsoft"
    ca_file: Path | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0

    @field_validator("issuer")
    @classmethod
    def _https_issuer(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError(
                "must be an https:// URL, such as https://login.microsoftonline.com/TENANT/v2.0"
            )
        return value.rstrip("/")

    @field_validator("client_secret", mode="before")
    @classmethod
    def _no_inline_secret(cls, value: Any) -> Any:
        raise ValueError(
            "a client secret must not be written in the config file; use client_secret_env: "
            "NAME (an environment variable) or client_secret_file: PATH"
        )

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in value:
            raise ValueError("must include openid (OpenID Connect needs it)")
        return value

    def resolved(self, environ: Mapping[str, str]) -> OidcSettings:
        where = "web.oidc"
        if self.client_secret_env and self.client_secret_file:
            raise ConfigError(
                f"{where}: set either client_secret_env or client_secret_file, not both"
            )
        secret: str | None = None
        if self.client_secret_env:
            secret = environ.get(self.client_secret_env)
            if not secret:
                raise ConfigError(
                    f"{where}.client_secret_env: the environment variable "
                    f"{self.client_secret_env} is not set — fix: export "
                    f"{self.client_secret_env}=... before starting"
                )
        elif self.client_secret_file:
            try:
                secret = self.client_secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"{where}.client_secret_file: cannot read {self.client_secret_file} "
                    f"({exc.strerror}) — fix: check the path and that this user may read it"
                ) from None
        return self.model_copy(update={"client_secret": SecretStr(secret) if secret else None})


class WebSettings(_Model):
    """``web:``: the dashboard. It binds to loopback; put it behind a TLS reverse proxy and set
    ``base_url`` to the address people open, so cookies are ``Secure`` and ``__Host-``."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    base_url: str | None = None
    trusted_proxies: tuple[str, ...] = ()
    session_idle_minutes: Annotated[int, Field(ge=1, le=1440)] = 30
    session_absolute_hours: Annotated[int, Field(ge=1, le=720)] = 12
    oidc: OidcSettings | None = None

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("base_url must start with https:// (or http:// on loopback)")
        return value.rstrip("/") if value else value

    @property
    def https(self) -> bool:
        return bool(self.base_url and self.base_url.startswith("https://"))


class LimitsSettings(_Model):
    """``limits:``: what one email may cost to fetch and parse (see acchub_mailbot/core/limits.py).
    The defaults are those of :class:`~acchub_mailbot.core.limits.Limits`."""

    max_message_bytes: Annotated[int, Field(ge=65536)] = Limits.max_message_bytes
    max_mime_depth: Annotated[int, Field(ge=1, le=1000)] = Limits.max_mime_depth
    max_parts: Annotated[int, Field(ge=1, le=100000)] = Limits.max_parts
    max_rfc822_depth: Annotated[int, Field(ge=0, le=100)] = Limits.max_rfc822_depth
    max_html_bytes: Annotated[int, Field(ge=1024)] = Limits.max_html_bytes
    max_text_bytes: Annotated[int, Field(ge=1024)] = Limits.max_text_bytes
    max_links: Annotated[int, Field(ge=1, le=100000)] = Limits.max_links
    max_unwrap_depth: Annotated[int, Field(ge=1, le=100)] = Limits.max_unwrap_depth
    time_budget_seconds: Annotated[float, Field(gt=0, le=600)] = Limits.time_budget_seconds

    def to_limits(self) -> Limits:
        return Limits(**self.model_dump())


class LoggingSettings(_Model):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class Settings(_Model):
    database: DatabaseSettings = DatabaseSettings()
    mailboxes: tuple[MailboxSettings, ...] = ()
    smtp: SmtpSettings | None = None
    digest: DigestSettings = DigestSettings()
    verification: VerificationSettings = VerificationSettings()
    poll: PollSettings = PollSettings()
    http: HttpSettings = HttpSettings()
    web: WebSettings = WebSettings()
    logging: LoggingSettings = LoggingSettings()
    limits: LimitsSettings = LimitsSettings()

    @field_validator("mailboxes")
    @classmethod
    def _unique_names(cls, value: tuple[MailboxSettings, ...]) -> tuple[MailboxSettings, ...]:
        seen: set[str] = set()
        for mailbox in value:
            if mailbox.name in seen:
                raise ValueError(f"two mailboxes are named {mailbox.name!r}; names must be unique")
            seen.add(mailbox.name)
        return value

    def mailbox(self, name: str) -> MailboxSettings:
        for mailbox in self.mailboxes:
            if mailbox.name == name:
                return mailbox
        raise ConfigError(f"mailboxes: no mailbox named {name!r}")


_HINTS = {
    "extra_forbidden": "unknown key — fix: check its spelling against config.example.yaml",
    "missing": "required key is missing — fix: add it (see config.example.yaml)",
}


def _dotted(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + ("from" if part == "from_" else str(part))
    return out or "(top level)"


def _explain(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = [p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        hint = _HINTS.get(item["type"]) or item["msg"].removeprefix("Value error, ")
        lines.append(f"{_dotted(loc)}: {hint}")
    return "; ".join(lines)


def parse_settings(
    data: Any, *, environ: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> Settings:
    """Validate a loaded YAML document and resolve secrets.

    With ``base_dir``, relative paths (including ``password_file``) are taken relative to it
    before any file is read.
    """
    environ = os.environ if environ is None else environ
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError("(top level): the config must be a YAML mapping of keys to values")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None
    if base_dir is not None:
        settings = _anchor_paths(settings, base_dir)
    mailboxes = []
    for index, mailbox in enumerate(settings.mailboxes):
        secret = mailbox.imap.resolved(f"mailboxes[{index}].imap", environ)
        oauth = mailbox.imap.oauth
        if oauth is not None:
            where = f"mailboxes[{index}].imap"
            oauth = _checked_oauth(oauth, where, secret, mailbox.name, environ, base_dir)
        elif secret is None:
            raise ConfigError(
                f"mailboxes[{index}].imap.password_env: no password source — fix: set "
                "password_env: NAME (an environment variable) or password_file: PATH, "
                "or oauth: for Microsoft 365 / Gmail sign-in"
            )
        imap = mailbox.imap.model_copy(update={"password": secret, "oauth": oauth})
        mailboxes.append(mailbox.model_copy(update={"imap": imap}))
    smtp = settings.smtp
    if smtp is not None:
        smtp = smtp.model_copy(update={"password": smtp.resolved("smtp", environ)})
        if smtp.oauth is not None:
            smtp = _smtp_oauth(smtp, environ, base_dir)
        elif smtp.username and smtp.password is None:
            raise ConfigError(
                "smtp.password_env: smtp.username is set but no password source — fix: set "
                "password_env or password_file, or remove username"
            )
    web = settings.web
    if web.oidc is not None:
        if not web.base_url:
            raise ConfigError(
                "web.base_url: single sign-on (web.oidc) sends people back to the dashboard's "
                "own address — fix: set base_url: https://hub.firm.example (the address people "
                "open), and register BASE_URL/login/oidc/callback as the app's redirect URI"
            )
        web = web.model_copy(update={"oidc": web.oidc.resolved(environ)})
    return settings.model_copy(update={"mailboxes": tuple(mailboxes), "smtp": smtp, "web": web})


def _checked_oauth(
    oauth: OAuthSettings,
    where: str,
    password: SecretStr | None,
    store_name: str,
    environ: Mapping[str, str],
    base_dir: Path | None,
) -> OAuthSettings:
    """The checks every ``oauth:`` section gets (IMAP and SMTP alike), and its token store."""
    if password is not None:
        raise ConfigError(
            f"{where}.oauth: set either oauth or a password source (password_env/password_file), "
            "not both"
        )
    if oauth.client_secret_env and not environ.get(oauth.client_secret_env):
        raise ConfigError(
            f"{where}.oauth.client_secret_env: the environment variable "
            f"{oauth.client_secret_env} is not set — fix: export "
            f"{oauth.client_secret_env}=... before starting"
        )
    if oauth.token_store is None:
        store = default_token_store(store_name, base_dir or Path.cwd())
        oauth = oauth.model_copy(update={"token_store": store})
    return oauth


def _smtp_oauth(
    smtp: SmtpSettings, environ: Mapping[str, str], base_dir: Path | None
) -> SmtpSettings:
    """Check ``smtp.oauth`` the way ``mailboxes[].imap.oauth`` is checked, and give it a store."""
    assert smtp.oauth is not None
    oauth = _checked_oauth(smtp.oauth, "smtp", smtp.password, SMTP_TOKEN_NAME, environ, base_dir)
    if not smtp.username:
        raise ConfigError(
            "smtp.username: OAuth sign-in needs the sending mailbox's address — fix: set "
            "username: the address that sends the digest"
        )
    if smtp.security == "none":
        raise ConfigError(
            "smtp.security: OAuth tokens are never sent unencrypted — fix: use starttls or ssl"
        )
    if oauth.scope is None and oauth.provider == "microsoft" and not oauth.app_only:
        # The default Microsoft scope is IMAP's; sending needs its own (Google's covers both).
        oauth = oauth.model_copy(update={"scope": MICROSOFT_SMTP_SCOPE})
    return smtp.model_copy(update={"oauth": oauth})


def load_settings(
    path: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read and validate the config file named by ``path`` or ``$ACCHUB_CONFIG``."""
    environ = os.environ if environ is None else environ
    if path is None:
        path = environ.get(CONFIG_ENV)
        if not path:
            raise ConfigError(
                f"no config file — fix: pass --config FILE or set {CONFIG_ENV}=FILE "
                "(start from config.example.yaml)"
            )
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    try:
        # Relative paths in the file are relative to the file, not to the current directory;
        # they are anchored before password_file is read.
        return parse_settings(data, environ=environ, base_dir=path.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _readable_by_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False


def insecure_permission_warning(path: Path, settings: Settings) -> str | None:
    """A warning when a file that holds a secret is readable by other users.

    Inline passwords are refused, so the config itself holds a secret only through a database
    URL with a password in it; the secrets named by ``password_file`` live in those files, which
    are checked too (a private config pointing at a world-readable password file leaks as much).
    """
    problems: list[str] = []
    if redact_url(settings.database.url) != settings.database.url and _readable_by_others(path):
        problems.append(
            f"{path} holds the database password (database.url) and is readable by other "
            f"users — fix: chmod 600 {path}"
        )
    sources: list[tuple[str, _SecretSource]] = [
        (f"mailboxes[{i}].imap", m.imap) for i, m in enumerate(settings.mailboxes)
    ]
    if settings.smtp is not None:
        sources.append(("smtp", settings.smtp))
    for where, source in sources:
        if source.password_file and _readable_by_others(source.password_file):
            problems.append(
                f"{where}.password_file: {source.password_file} is readable by other users — "
                f"fix: chmod 600 {source.password_file}"
            )
    return "; ".join(problems) or None


def _anchor(base: Path, value: Path | None) -> Path | None:
    if value is None or value.is_absolute():
        return value
    return base / value


def _anchor_oauth(base: Path, oauth: OAuthSettings | None) -> OAuthSettings | None:
    """Every file an ``oauth:`` section names, relative to the config file."""
    if oauth is None:
        return None
    keys = (
        "token_store",
        "ca_file",
        "client_secret_file",
        "client_certificate_file",
        "service_account_file",
    )
    paths = {key: _anchor(base, getattr(oauth, key)) for key in keys}
    return oauth.model_copy(update=paths)


def _anchor_paths(settings: Settings, base: Path) -> Settings:
    digest = settings.digest.model_copy(
        update={
            "templates_dir": _anchor(base, settings.digest.templates_dir),
            "output_dir": _anchor(base, settings.digest.output_dir),
        }
    )
    mailboxes = tuple(
        m.model_copy(
            update={
                "imap": m.imap.model_copy(
                    update={
                        "ca_file": _anchor(base, m.imap.ca_file),
                        "password_file": _anchor(base, m.imap.password_file),
                        "oauth": _anchor_oauth(base, m.imap.oauth),
                    }
                )
            }
        )
        for m in settings.mailboxes
    )
    database = settings.database
    prefix = "sqlite:///"
    if database.url.startswith(prefix) and not database.url.startswith("sqlite:////"):
        relative = database.url[len(prefix) :]
        if relative and relative != ":memory:":
            database = DatabaseSettings(url=prefix + str(base / relative))
    smtp = settings.smtp
    if smtp is not None:
        smtp = smtp.model_copy(
            update={
                "ca_file": _anchor(base, smtp.ca_file),
                "password_file": _anchor(base, smtp.password_file),
                "oauth": _anchor_oauth(base, smtp.oauth),
            }
        )
    verification = settings.verification.model_copy(
        update={"ca_file": _anchor(base, settings.verification.ca_file)}
    )
    web = settings.web
    if web.oidc is not None:
        oidc = web.oidc.model_copy(
            update={
                "ca_file": _anchor(base, web.oidc.ca_file),
                "client_secret_file": _anchor(base, web.oidc.client_secret_file),
            }
        )
        web = web.model_copy(update={"oidc": oidc})
    return settings.model_copy(
        update={
            "digest": digest,
            "mailboxes": mailboxes,
            "database": database,
            "smtp": smtp,
            "verification": verification,
            "web": web,
        }
    )
