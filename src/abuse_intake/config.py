"""Read the TOML configuration once into typed, validated settings.

Every problem is raised as ConfigError naming the dotted key, so an operator
sees e.g. `config: mailbox.url: unsupported scheme 'pop3'`. Secrets are never
read from the file itself: only the names of environment variables or files
that hold them.
"""

from __future__ import annotations

import logging
import math
import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import ConfigError

log = logging.getLogger(__name__)

SEVERITIES = ("critical", "high", "medium", "low")
SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1}
LANGUAGES = ("en", "id")
CONFIG_ENV = "ABUSE_INTAKE_CONFIG"
MAX_SECONDS = 86_400.0  # timeouts and waits: a day is already far past any sane value
MAX_HOURS = 24.0 * 3660  # windows in hours: ten years
MAX_INT = 2**53  # beyond this a count or size is a typo, and SQLite integers end at 2**63

# A report saying the person harmed is a minor is critical whatever its words
# (`[categories] minor_patterns` replaces these). Matched on the lower-cased
# text; an age is 1-17 next to umur/usia/age/"years old"/"im", and not an age
# of something else ("umur akun 14 hari") or a time ago ("14 tahun yang lalu").
_AGE = r"(?:1[0-7]|[1-9]|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen)(?!\w|[.,:]\d)"
_NOT_AGE_EN = (r"(?!\s*(?:minutes?|mins?|hours?|hrs?|km|miles?|%|am|pm|days?|weeks?|months?|times?|k|percent|"
               r"years?\s+(?:ago|older|younger|later)|people|of\s+us)\b)")
DEFAULT_MINOR_PATTERNS = (
    r"\b(?:umur|umurnya|usia|usianya|baru|masih)\s*:?\s*(?:nya\s+)?(?:baru\s+|masih\s+)?"
    r"(?:1[0-7]|[1-9])(?![\d.,])(?!\s*(?:hari|hr|minggu|bulan|bln|jam|menit|tahun\s+(?:yang|yg)\s+lalu|"
    r"thn\s+(?:yang|yg)\s+lalu|tahun\s+lalu|thn\s+lalu|tahun\s+lagi|kali|orang|juta|ribu|rb|k)\b)",
    r"\b(?:age|aged|ages)\s*:?\s*(?:is\s+|of\s+)?" + _AGE + _NOT_AGE_EN,
    r"\b" + _AGE + r"\s*(?:-\s*)?(?:years?|yrs?|y)\s*(?:-\s*)?old\b",
    r"\b(?:1[0-7]|[1-9])\s*(?:yo|y/o|y\.o\.?)(?!\w)",
    r"\bi\s*'?\s*m\s+(?:only\s+|just\s+)?" + _AGE + _NOT_AGE_EN,
    r"\b(?:she|he)\s*(?:is|'s|was)\s+(?:only\s+|just\s+)?" + _AGE + _NOT_AGE_EN,
    r"\b(?:[1-9]|1[0-2])(?:st|nd|rd|th)\s*-?\s*grade(?:r)?\b",
    r"\bkelas\s*(?:[1-9]|i{1,3}|iv|v|vi)\s*(?:sd|smp|sma)\b",
    r"\b(?:anak|anak2|anak-anak|siswa|siswi|murid|pelajar|masih)\s+(?:(?:cewek|cewe|cowok|perempuan|laki-laki)\s+)?"
    r"(?:smp|sd)\b",
    r"\bmasih\s+(?:sekolah|di\s*bawah\s*umur)\b",
    r"\bunder\s*-?\s*age(?:d)?\b",
    r"\bdi\s*bawah\s*umur\b",
)


@dataclass(frozen=True)
class OAuth2Settings:
    """Where and how to get an OAuth2 access token (XOAUTH2) for `section`.

    Holds only the names of the env variable / files with the secrets, never
    the secrets themselves, so `config show` and a fork carry none."""

    section: str  # "mailbox" or "outgoing": the key prefix in errors
    token_url: str
    client_id: str
    grant: str  # client_credentials | refresh_token
    scope: str = ""
    client_secret_env: str = ""
    client_secret_file: Path | None = None
    refresh_token_file: Path | None = None
    provider: str = ""  # microsoft | google | "" (explicit URLs)
    tenant: str = ""
    device_authorization_url: str = ""  # RFC 8628, for `oauth2 authorize`
    timeout: float = 10.0  # seconds for the whole token request

    def key(self, name: str) -> str:
        return f"{self.section}.oauth2.{name}"

    def client_secret(self) -> str:
        """Read at the moment of a token request only (never kept in memory)."""
        if self.client_secret_env:
            value = os.environ.get(self.client_secret_env)
            if value is not None:
                return value
        if self.client_secret_file is not None:
            try:
                return self.client_secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(self.key("client_secret_file"),
                                  f"cannot read {self.client_secret_file}: {exc.strerror}") from None
        if self.client_secret_env:
            raise ConfigError(self.key("client_secret_env"),
                              f"environment variable {self.client_secret_env} is not set")
        return ""  # a public client (device flow, PKCE) has none


@dataclass(frozen=True)
class MailboxSettings:
    scheme: str  # imap, imaps, imap+starttls, maildir
    host: str = ""
    port: int = 0
    user: str = ""
    folder: str = "INBOX"
    path: Path | None = None  # maildir only
    password_env: str = ""
    password_file: Path | None = None
    batch_size: int = 50
    timeout: float = 30.0
    deadline: float = 900.0  # seconds one connection may last in all (timeout bounds each read)
    done_action: str = "move"  # move | flag | none
    done_folder: str = "Processed"
    done_keyword: str = "AbuseIntakeDone"
    mark_done_every: int = 500
    url: str = ""
    # authserv-ids (RFC 8601) whose Authentication-Results we believe: our own MTA's.
    trusted_authserv_ids: tuple[str, ...] = ()
    auth: str = "password"  # password | oauth2
    oauth2: OAuth2Settings | None = None

    def password(self) -> str:
        return _read_secret("mailbox", self.password_env, self.password_file)


@dataclass(frozen=True)
class OutgoingSettings:
    scheme: str  # smtp, smtps, smtp+starttls, dir
    host: str = ""
    port: int = 0
    user: str = ""
    path: Path | None = None  # dir only
    password_env: str = ""
    password_file: Path | None = None
    timeout: float = 30.0
    url: str = ""
    # Total seconds for one SMTP connection and for one delivery run: a server
    # that answers a byte at a time cannot hold a run (and the poll lock) longer.
    connection_deadline: float = 120.0
    run_deadline: float = 300.0
    auth: str = "password"  # password | oauth2
    oauth2: OAuth2Settings | None = None

    def password(self) -> str:
        return _read_secret("outgoing", self.password_env, self.password_file)


@dataclass(frozen=True)
class Category:
    name: str
    severity: str
    words: tuple[str, ...]
    guideline: str = ""  # the guideline's text or URL, for the statement of reasons (issue 14.3)
    legal_ground: str = ""  # optional: the law the content breaks, if any


@dataclass(frozen=True)
class AccountSettings:
    handle_pattern: str
    labels: tuple[str, ...]
    profile_urls: tuple[str, ...]  # regexes with a named group `handle`
    not_handles: tuple[str, ...]  # ordinary words that follow labels
    bare_handles: bool = True  # handles with no label, '@' or link count in a report


@dataclass(frozen=True)
class LadderStep:
    action: str  # warn | restrict | ban
    days: int | None = None  # restrict only


@dataclass(frozen=True)
class PolicySettings:
    lookback_days: int
    restrict_functions: tuple[str, ...]
    ladder: dict[str, tuple[LadderStep, ...]]
    remove_content_counts: bool = False  # does a content removal count as a strike?
    appeal_days: int = 183  # an appeal is open this long after the sanction (or decision)
    redress_out_of_court: str = ""  # certified out-of-court dispute settlement body (DSA Art. 21)
    redress_courts: str = ""  # judicial redress, in words


@dataclass(frozen=True)
class RetentionSettings:
    """[retention] (issue 14.5): how long raw mail and attachment contents are kept."""
    other_days: int = 30      # non-reports, robots, duplicates, resends
    decided_days: int = 400   # reports (and replies, appeals) of decided cases, after the decision
    referral_days: int = 365  # a referral case: at least this long, and only once a lead released the hold
    poll_slice: int = 200     # messages purged at the end of each poll (0: purge only by `abuse-intake purge`)


@dataclass(frozen=True)
class Limits:
    max_emails_per_recipient_per_day: int = 5
    max_message_bytes: int = 25 * 1024 * 1024
    max_attachments: int = 20
    max_attachment_bytes: int = 20 * 1024 * 1024
    max_accounts_per_report: int = 10


@dataclass(frozen=True)
class WebSettings:
    """[web]: the staff console (`abuse-intake web`)."""
    listen: str = "127.0.0.1:8080"
    base_url: str = ""  # e.g. https://abuse.example.org behind a proxy; https makes cookies Secure
    secret_key_file: Path | None = None  # None: <database>.web-secret beside the database
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-* headers are believed
    session_idle_minutes: int = 60
    session_max_hours: int = 12
    threads: int = 8


@dataclass(frozen=True)
class HealthSettings:
    """`status --check` thresholds: (warning, critical), Nagios style."""

    last_poll_warn_minutes: float = 15
    last_poll_crit_minutes: float = 60
    outbox_pending_warn: int = 100
    outbox_pending_crit: int = 1000
    outbox_oldest_warn_minutes: float = 60
    outbox_oldest_crit_minutes: float = 360
    outbox_failed_warn: int = 1
    quarantine_warn: int = 1
    quarantine_crit: int = 50


@dataclass(frozen=True)
class Settings:
    source: Path | None
    platform_name: str
    support_address: str
    own_addresses: tuple[str, ...]
    case_prefix: str
    message_id_domain: str
    guidelines_url: str
    appeal_address: str
    database_path: Path
    mailbox: MailboxSettings
    outgoing: OutgoingSettings
    from_name: str
    accounts: AccountSettings
    categories: dict[str, Category]
    resend_window_hours: float
    send_not_a_report: bool
    templates_dir: Path | None
    default_language: str
    limits: Limits
    policy: PolicySettings
    enforcement_command: tuple[str, ...]
    lock_path: Path = field(default=Path("abuse-intake.lock"))
    busy_timeout_ms: int = 10_000
    workers: int = 0  # parser processes for backlogs; 0 = one per core
    web: WebSettings = field(default_factory=WebSettings)
    timezone: str = "UTC"  # [platform] timezone: how times are shown (stored in UTC)
    minor_patterns: tuple[str, ...] = DEFAULT_MINOR_PATTERNS  # [categories] minor_patterns
    outcome_delay_minutes: int = 0  # [notify]: outcome emails wait this long (an undo window)
    watch_interval: float = 60.0  # `watch` without IDLE: seconds between polls
    watch_idle_renew: float = 25 * 60.0  # RFC 2177: re-issue IDLE at most every 29 min; we use 25
    health: "HealthSettings" = field(default_factory=lambda: HealthSettings())
    # [notify] outcome_detail (issue 14.4): "minimal" tells reporters only whether action was taken.
    outcome_detail: str = "minimal"
    # [platform.safety_contacts] (issue 14.7): per language, listed in acks of critical reports.
    safety_contacts: dict = field(default_factory=dict)
    # [notifiers] trusted (issue 14.6): addresses counted as trusted notifiers in the transparency report.
    trusted_notifiers: tuple[str, ...] = ()
    retention: RetentionSettings = field(default_factory=RetentionSettings)

    def severity_of(self, category: str) -> str:
        return self.categories[category].severity


# --------------------------------------------------------------------------
# reading


def find_config_path(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return Path("config.toml")


def load(path: str | Path) -> Settings:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file", f"not found: {path}") from None
    except OSError as exc:
        raise ConfigError("file", f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("file", f"{path} is not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("file", f"{path} is not valid TOML: {exc}") from None
    return from_dict(data, base=path.resolve().parent, source=path)


def from_dict(data: dict[str, Any], base: Path, source: Path | None = None) -> Settings:
    r = _Reader(data, base)
    known = {
        "platform", "database", "mailbox", "outgoing", "accounts",
        "categories", "classify", "templates", "limits", "policy", "enforcement", "processing",
        "web",
        "notify",
        "watch", "health",
        "notifiers",
        "retention",
    }
    for key in data:
        if key == "storage":
            raise ConfigError("storage.data_dir", "no longer used: raw messages and attachments are kept "
                                                  "in the database since schema 3; remove the [storage] section")
        if key not in known:
            raise ConfigError(key, f"unknown section (known: {', '.join(sorted(known))})")

    support = r.email("platform.support_address")
    own = tuple(a.lower() for a in r.list_of_str("platform.own_addresses", default=[]))
    for i, a in enumerate(own):
        if "@" not in a:
            raise ConfigError(f"platform.own_addresses[{i}]", f"not an email address: {a!r}")
    prefix = r.str("platform.case_prefix", default="OB")
    if not re.fullmatch(r"[A-Z][A-Z0-9]{0,9}", prefix):
        raise ConfigError("platform.case_prefix", "must be 1-10 upper-case letters/digits, starting with a letter")

    db_path = r.path("database.path", default="abuse-intake.db")

    settings = Settings(
        source=source,
        platform_name=r.str("platform.name", default="Obrolan"),
        support_address=support,
        own_addresses=tuple(dict.fromkeys((support, *own))),
        case_prefix=prefix,
        message_id_domain=r.str("platform.message_id_domain", default=support.split("@", 1)[1]),
        guidelines_url=r.str("platform.guidelines_url", default=""),
        appeal_address=r.str("platform.appeal_address", default=support),
        database_path=db_path,
        mailbox=_mailbox(r),
        outgoing=_outgoing(r),
        from_name=r.str("outgoing.from_name", default="Support"),
        accounts=_accounts(r),
        categories=_categories(r),
        resend_window_hours=r.number("classify.resend_window_hours", default=48, minimum=0, maximum=MAX_HOURS),
        send_not_a_report=r.bool("classify.send_not_a_report", default=True),
        templates_dir=_templates_dir(r),
        default_language=r.choice("templates.default_language", LANGUAGES, default="en"),
        limits=Limits(
            max_emails_per_recipient_per_day=r.int("limits.max_emails_per_recipient_per_day", default=5, minimum=1),
            max_message_bytes=r.int("limits.max_message_bytes", default=25 * 1024 * 1024, minimum=1024),
            max_attachments=r.int("limits.max_attachments", default=20, minimum=0),
            max_attachment_bytes=r.int("limits.max_attachment_bytes", default=20 * 1024 * 1024, minimum=0),
            max_accounts_per_report=r.int("limits.max_accounts_per_report", default=10, minimum=1, maximum=1000),
        ),
        policy=_policy(r),
        enforcement_command=tuple(r.list_of_str("enforcement.command", default=[])),
        lock_path=db_path.with_name(db_path.name + ".lock"),
        busy_timeout_ms=int(r.number("database.busy_timeout", default=10, minimum=0, maximum=MAX_SECONDS) * 1000),
        workers=r.int("processing.workers", default=0, minimum=0, maximum=64),
        web=_web(r, db_path),
        timezone=_timezone(r),
        minor_patterns=_minor_patterns(r),
        outcome_delay_minutes=r.int("notify.outcome_delay_minutes", default=0, minimum=0, maximum=7 * 24 * 60),
        watch_interval=r.number("watch.interval", default=60, minimum=1),
        watch_idle_renew=_idle_renew(r),
        health=_health(r),
        outcome_detail=r.choice("notify.outcome_detail", ("minimal", "full"), default="minimal"),
        safety_contacts=_safety_contacts(r),
        trusted_notifiers=_trusted_notifiers(r),
        retention=RetentionSettings(
            other_days=r.int("retention.other_days", default=30, minimum=1),
            decided_days=r.int("retention.decided_days", default=400, minimum=1),
            # the US REPORT Act asks a year of preservation for reports to NCMEC
            referral_days=r.int("retention.referral_days", default=365, minimum=365),
            poll_slice=r.int("retention.poll_slice", default=200, minimum=0, maximum=10_000),
        ),
    )
    r.check_unknown()
    return settings


def _safety_contacts(r: "_Reader") -> dict[str, tuple[str, ...]]:
    table = r.table("platform.safety_contacts")
    for lang in table:
        if lang not in LANGUAGES:
            raise ConfigError(f"platform.safety_contacts.{lang}", f"unknown language (use {', '.join(LANGUAGES)})")
    return {lang: tuple(r.list_of_str(f"platform.safety_contacts.{lang}")) for lang in table}


def _web(r: "_Reader", db_path: Path) -> WebSettings:
    listen = r.str("web.listen", default="127.0.0.1:8080")
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("web.listen", f"expected HOST:PORT, got {listen!r}")
    base_url = r.str("web.base_url", default="").rstrip("/")
    if base_url and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", base_url):
        raise ConfigError("web.base_url", f"expected http(s)://HOST[/PATH], got {base_url!r}")
    return WebSettings(
        listen=listen, base_url=base_url,
        secret_key_file=r.path("web.secret_key_file", default=None) or db_path.with_name(db_path.name + ".web-secret"),
        trusted_proxies=r.int("web.trusted_proxies", default=0, minimum=0, maximum=5),
        session_idle_minutes=r.int("web.session_idle_minutes", default=60, minimum=1),
        session_max_hours=r.int("web.session_max_hours", default=12, minimum=1),
        threads=r.int("web.threads", default=8, minimum=1, maximum=64),
    )


def _timezone(r: "_Reader") -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    name = r.str("platform.timezone", default="UTC")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("platform.timezone", f"not an IANA time zone name: {name!r} (e.g. Asia/Jakarta)") from None
    return name


def _mailbox(r: "_Reader") -> MailboxSettings:
    url = r.str("mailbox.url")
    common = dict(
        password_env=r.str("mailbox.password_env", default=""),
        password_file=r.path("mailbox.password_file", default=None),
        batch_size=r.int("mailbox.batch_size", default=50, minimum=1, maximum=5000),
        timeout=r.number("mailbox.timeout", default=30, minimum=0.1, maximum=MAX_SECONDS),
        deadline=r.number("mailbox.deadline", default=900, minimum=1, maximum=MAX_SECONDS),
        done_action=r.choice("mailbox.done_action", ("move", "flag", "none"), default="move"),
        done_folder=r.str("mailbox.done_folder", default="Processed"),
        done_keyword=r.str("mailbox.done_keyword", default="AbuseIntakeDone"),
        mark_done_every=r.int("mailbox.mark_done_every", default=500, minimum=1),
        url=url,
        trusted_authserv_ids=_authserv_ids(r),
    )
    common.update(_auth(r, "mailbox", url.startswith("maildir:")))
    if not re.fullmatch(r"[A-Za-z0-9_$]+", common["done_keyword"]):
        raise ConfigError("mailbox.done_keyword", "must be letters, digits, '_' or '$' (an IMAP keyword atom)")
    if url.startswith("maildir:"):
        return MailboxSettings(scheme="maildir", path=_local_path(r, "mailbox", url, "maildir:"), **common)
    parts, port = _server_url("mailbox", url, {"imap": 143, "imap+starttls": 143, "imaps": 993},
                              "maildir:PATH", "imaps://support@obrolan.example@mail.example:993/INBOX")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return MailboxSettings(
        scheme=parts.scheme, host=parts.hostname, port=port,
        user=unquote(parts.username or ""), folder=folder, **common,
    )


def _outgoing(r: "_Reader") -> OutgoingSettings:
    url = r.str("outgoing.url", default="dir:outbox")
    common = dict(
        password_env=r.str("outgoing.password_env", default=""),
        password_file=r.path("outgoing.password_file", default=None),
        timeout=r.number("outgoing.timeout", default=30, minimum=0.1, maximum=MAX_SECONDS),
        url=url,
        connection_deadline=_seconds(r, "outgoing.connection_deadline", 120),
        run_deadline=_seconds(r, "outgoing.run_deadline", 300),
    )
    common.update(_auth(r, "outgoing", url.startswith("dir:")))
    if url.startswith("dir:"):
        return OutgoingSettings(scheme="dir", path=_local_path(r, "outgoing", url, "dir:"), **common)
    parts, port = _server_url("outgoing", url, {"smtp": 25, "smtp+starttls": 587, "smtps": 465},
                              "dir:PATH", "smtp+starttls://relay.example:587")
    return OutgoingSettings(scheme=parts.scheme, host=parts.hostname, port=port,
                            user=unquote(parts.username or ""), **common)


def _seconds(r: "_Reader", key: str, default: float) -> float:
    """A finite number of seconds from 1 to a day."""
    return r.number(key, default=default, minimum=1, maximum=MAX_SECONDS)


def _authserv_ids(r: "_Reader") -> tuple[str, ...]:
    ids = r.list_of_str("mailbox.trusted_authserv_ids", default=[])
    for i, v in enumerate(ids):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}", v):
            raise ConfigError(f"mailbox.trusted_authserv_ids[{i}]", f"not a host name: {v!r}")
    return tuple(v.lower() for v in ids)


# Presets: the token endpoint and default scopes of the two big providers.
_PROVIDERS = {
    "microsoft": {
        "token_url": "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        "device_authorization_url": "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
        "scope": {
            ("mailbox", "client_credentials"): "https://outlook.office365.com/.default",
            ("outgoing", "client_credentials"): "https://outlook.office365.com/.default",
            ("mailbox", "refresh_token"): "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
            ("outgoing", "refresh_token"): "https://outlook.office.com/SMTP.Send offline_access",
        },
    },
    "google": {
        "token_url": "https://oauth2.googleapis.com/token",
        "device_authorization_url": "https://oauth2.googleapis.com/device/code",
        "scope": {
            ("mailbox", "refresh_token"): "https://mail.google.com/",
            ("outgoing", "refresh_token"): "https://mail.google.com/",
        },
    },
}


def _auth(r: "_Reader", section: str, local: bool) -> dict:
    """`auth` and the `[section.oauth2]` table (only for a server URL)."""
    auth = r.choice(f"{section}.auth", ("password", "oauth2"), default="password")
    table = r.table(f"{section}.oauth2")
    if auth == "password":
        if table:
            raise ConfigError(f"{section}.oauth2", f'is only used with {section}.auth = "oauth2"')
        return {}
    if local:
        raise ConfigError(f"{section}.auth", '"oauth2" needs a server URL, not a local folder')
    key = f"{section}.oauth2."
    provider = r.choice(key + "provider", ("", "microsoft", "google"), default="")
    tenant = r.str(key + "tenant", default="common" if provider == "microsoft" else "")
    if tenant and not re.fullmatch(r"[A-Za-z0-9.-]+", tenant):
        raise ConfigError(key + "tenant", "must be a tenant id or domain (letters, digits, '.', '-')")
    preset = _PROVIDERS.get(provider, {})
    grants = ("client_credentials", "refresh_token") if provider != "google" else ("refresh_token",)
    grant = r.choice(key + "grant", grants, default="refresh_token")

    def url(name: str, required: bool) -> str:
        default = preset.get(name, "").format(tenant=tenant) if preset else ("" if not required else r._MISSING)
        value = r.str(key + name, default=default)
        if value and not re.fullmatch(r"https?://[^\s]+", value):
            raise ConfigError(key + name, f"must be an http(s) URL, got {value!r}")
        if value.startswith("http://") and urlsplit(value).hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(key + name, "must be https:// (http:// only on loopback)")
        return value

    settings = OAuth2Settings(
        section=section,
        provider=provider,
        tenant=tenant,
        token_url=url("token_url", True),
        device_authorization_url=url("device_authorization_url", False),
        client_id=r.str(key + "client_id"),
        grant=grant,
        scope=r.str(key + "scope", default=preset.get("scope", {}).get((section, grant), "")),
        client_secret_env=r.str(key + "client_secret_env", default=""),
        client_secret_file=r.path(key + "client_secret_file", default=None),
        refresh_token_file=r.path(key + "refresh_token_file", default=None),
        timeout=r.number(key + "timeout", default=10, minimum=0.1),
    )
    if not settings.client_id:
        raise ConfigError(key + "client_id", "is required")
    if grant == "client_credentials" and not (settings.client_secret_env or settings.client_secret_file):
        raise ConfigError(key + "client_secret_file",
                          "the client_credentials grant needs client_secret_env or client_secret_file")
    return {"auth": auth, "oauth2": settings}


def _health(r: "_Reader") -> HealthSettings:
    d = HealthSettings()
    values = {}
    for f in dataclasses.fields(HealthSettings):
        default = getattr(d, f.name)
        if isinstance(default, int):
            values[f.name] = r.int(f"health.{f.name}", default=default, minimum=0)
        else:
            values[f.name] = r.number(f"health.{f.name}", default=default, minimum=0)
    return HealthSettings(**values)


def _idle_renew(r: "_Reader") -> float:
    value = r.number("watch.idle_renew", default=25 * 60, minimum=5)
    if value > 25 * 60:  # servers may drop an IDLE after 30 min (RFC 2177 says re-issue within 29)
        raise ConfigError("watch.idle_renew", "must be at most 1500 seconds (25 minutes)")
    return value


def _local_path(r: "_Reader", section: str, url: str, prefix: str) -> Path:
    rest = url[len(prefix):]
    if not rest:
        raise ConfigError(f"{section}.url", f"{prefix} needs a path, e.g. {prefix}data/mail")
    return r.resolve(rest)


def _server_url(section: str, url: str, default_ports: dict[str, int], local_form: str, example: str):
    """Split a server URL, refusing unknown schemes, missing hosts and inline passwords."""
    key = f"{section}.url"
    parts = urlsplit(url)
    if parts.scheme not in default_ports:
        schemes = ", ".join(f"{s}://" for s in default_ports)
        raise ConfigError(key, f"unsupported scheme {parts.scheme!r} (use {schemes} or {local_form})")
    if not parts.hostname:
        raise ConfigError(key, f"missing host, e.g. {example}")
    if parts.password:
        raise ConfigError(key, f"must not contain a password: use {section}.password_env or {section}.password_file")
    try:
        port = parts.port or default_ports[parts.scheme]
    except ValueError:
        raise ConfigError(key, "port is not a number") from None
    return parts, port


def _trusted_notifiers(r) -> tuple[str, ...]:
    trusted = tuple(a.strip().lower() for a in r.list_of_str("notifiers.trusted", default=[]))
    for i, a in enumerate(trusted):
        if "@" not in a:
            raise ConfigError(f"notifiers.trusted[{i}]", f"not an email address: {a!r}")
    return trusted


def _accounts(r: "_Reader") -> AccountSettings:
    pattern = r.str("accounts.handle_pattern", default=r"[A-Za-z][A-Za-z0-9._]{3,29}")
    _compile("accounts.handle_pattern", pattern)
    urls = tuple(r.list_of_str("accounts.profile_urls", default=[]))
    for i, u in enumerate(urls):
        rx = _compile(f"accounts.profile_urls[{i}]", u)
        if "handle" not in rx.groupindex:
            raise ConfigError(f"accounts.profile_urls[{i}]", "needs a named group (?P<handle>...)")
    return AccountSettings(
        handle_pattern=pattern,
        labels=tuple(r.list_of_str("accounts.labels", default=[])),
        profile_urls=urls,
        not_handles=tuple(w.lower() for w in r.list_of_str("accounts.not_handles", default=[])),
        bare_handles=r.bool("accounts.bare_handles", default=True),
    )


def _categories(r: "_Reader") -> dict[str, Category]:
    table = r.table("categories")
    if not table:
        raise ConfigError("categories", "at least one category is required")
    out = {}
    for name in table:
        if name == "minor_patterns":  # a list, not a category: read by _minor_patterns
            continue
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ConfigError(f"categories.{name}", "category names are lower-case words with '_'")
        sev = r.choice(f"categories.{name}.severity", SEVERITIES)
        words = tuple(w for w in r.list_of_str(f"categories.{name}.words", default=[]) if w.strip())
        out[name] = Category(name=name, severity=sev, words=words,
                             guideline=r.str(f"categories.{name}.guideline", default=""),
                             legal_ground=r.str(f"categories.{name}.legal_ground", default=""))
    if "other" not in out:
        raise ConfigError("categories.other", "the catch-all category 'other' is required")
    return out


def _minor_patterns(r: "_Reader") -> tuple[str, ...]:
    patterns = tuple(r.list_of_str("categories.minor_patterns", default=list(DEFAULT_MINOR_PATTERNS)))
    for i, p in enumerate(patterns):
        _compile(f"categories.minor_patterns[{i}]", p)
    return patterns


def _templates_dir(r: "_Reader") -> Path | None:
    d = r.path("templates.dir", default=None)
    if d is not None and not d.is_dir():
        raise ConfigError("templates.dir", f"directory does not exist: {d}")
    return d


def _policy(r: "_Reader") -> PolicySettings:
    ladder_table = r.table("policy.ladder")
    default_ladder = {
        "critical": ["ban"],
        "high": ["restrict:30", "ban"],
        "medium": ["restrict:7", "restrict:30", "ban"],
        "low": ["warn", "restrict:7", "ban"],
    }
    ladder: dict[str, tuple[LadderStep, ...]] = {}
    for sev in SEVERITIES:
        key = f"policy.ladder.{sev}"
        steps = r.list_of_str(key, default=default_ladder[sev])
        if not steps:
            raise ConfigError(key, "needs at least one step")
        parsed = []
        for i, s in enumerate(steps):
            m = re.fullmatch(r"(warn|ban)|restrict:(\d+)", s.strip())
            if not m:
                raise ConfigError(f"{key}[{i}]", f"bad step {s!r}: use 'warn', 'restrict:DAYS' or 'ban'")
            parsed.append(LadderStep("restrict", int(m.group(2))) if m.group(2) else LadderStep(m.group(1)))
        ladder[sev] = tuple(parsed)
    for extra in ladder_table:
        if extra not in SEVERITIES:
            raise ConfigError(f"policy.ladder.{extra}", f"unknown severity (use {', '.join(SEVERITIES)})")
    return PolicySettings(
        lookback_days=r.int("policy.lookback_days", default=365, minimum=1),
        restrict_functions=tuple(r.list_of_str(
            "policy.restrict_functions",
            default=["message_new_contacts", "nearby_discovery", "post_status"])),
        ladder=ladder,
        remove_content_counts=r.bool("policy.remove_content_counts", default=False),
        appeal_days=r.int("policy.appeal_days", default=183, minimum=1),
        redress_out_of_court=r.str("policy.redress_out_of_court", default=""),
        redress_courts=r.str("policy.redress_courts", default=""),
    )


def _compile(key: str, pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(key, f"bad regular expression: {exc}") from None


def _read_secret(section: str, env: str, file: Path | None) -> str:
    if env:
        value = os.environ.get(env)
        if value is not None:
            return value
    if file is not None:
        try:
            with open(file, encoding="utf-8") as fh:
                _warn_if_readable(fh.fileno(), file)
                return fh.read().strip()
        except OSError as exc:
            raise ConfigError(f"{section}.password_file", f"cannot read {file}: {exc.strerror}") from None
    if env:
        raise ConfigError(f"{section}.password_env", f"environment variable {env} is not set")
    return ""


_warned_secrets: set[str] = set()


def _warn_if_readable(fd: int, file: Path) -> None:
    """A password file that group or others can read is a leak waiting to happen: say so (once)."""
    mode = os.fstat(fd).st_mode
    if mode & 0o044 and str(file) not in _warned_secrets:
        _warned_secrets.add(str(file))
        log.warning("password file %s is readable by group or others (mode %04o): chmod 600 it",
                    file, mode & 0o7777)


def check_secrets(settings: Settings) -> None:
    """What `config check` adds to loading: every configured password file exists and
    can be read (a poll would only find out when it connects), with the same warning."""
    for section, part in (("mailbox", settings.mailbox), ("outgoing", settings.outgoing)):
        file = part.password_file
        if file is None:
            continue
        try:
            with open(file, "rb") as fh:
                _warn_if_readable(fh.fileno(), file)
        except FileNotFoundError:
            raise ConfigError(f"{section}.password_file", f"file not found: {file}") from None
        except OSError as exc:
            raise ConfigError(f"{section}.password_file", f"cannot read {file}: {exc.strerror}") from None


def secret_env_names(settings: Settings) -> set[str]:
    """The environment variables that hold our passwords: never handed to a child process."""
    return {n for n in (settings.mailbox.password_env, settings.outgoing.password_env) if n}


class _Reader:
    """Typed look-ups by dotted key that remember which keys were used,
    so unknown keys (typos) are reported instead of silently ignored."""

    _MISSING = object()

    def __init__(self, data: dict, base: Path):
        self.data = data
        self.base = base
        self.used: set[str] = set()

    def _get(self, key: str, default: Any):
        node: Any = self.data
        parts = key.split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, dict):
                raise ConfigError(".".join(parts[:i]), "must be a table")
            if part not in node:
                if default is self._MISSING:
                    raise ConfigError(key, "is required")
                return default
            node = node[part]
        self.used.add(key)
        return node

    def table(self, key: str) -> dict:
        v = self._get(key, {})
        if not isinstance(v, dict):
            raise ConfigError(key, "must be a table")
        self.used.add(key)
        return v

    def str(self, key: str, default: Any = _MISSING) -> Any:
        v = self._get(key, default)
        if v is default and default is not self._MISSING:
            return v
        if not isinstance(v, str):
            raise ConfigError(key, f"must be a string, got {type(v).__name__}")
        return v

    def email(self, key: str) -> str:
        v = self.str(key).strip().lower()
        if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", v):
            raise ConfigError(key, f"not an email address: {v!r}")
        return v

    def bool(self, key: str, default: Any = _MISSING) -> bool:
        v = self._get(key, default)
        if not isinstance(v, bool):
            raise ConfigError(key, f"must be true or false, got {v!r}")
        return v

    def int(self, key: str, default: Any = _MISSING, minimum: int | None = None, maximum: int | None = None) -> int:
        v = self._get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(key, f"must be a whole number, got {v!r}")
        if abs(v) > MAX_INT:
            raise ConfigError(key, f"out of range, got {v}")
        if minimum is not None and v < minimum:
            raise ConfigError(key, f"must be at least {minimum}, got {v}")
        if maximum is not None and v > maximum:
            raise ConfigError(key, f"must be at most {maximum}, got {v}")
        return v

    def number(self, key: str, default: Any = _MISSING, minimum: float | None = None,
               maximum: float | None = None) -> float:
        v = self._get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(key, f"must be a number, got {v!r}")
        # TOML allows inf and nan; both (and 1e308, which overflows once scaled) would
        # only fail later, deep in a timedelta or a socket call.
        if not math.isfinite(v):
            raise ConfigError(key, f"must be a finite number, got {v!r}")
        if minimum is not None and v < minimum:
            raise ConfigError(key, f"must be at least {minimum}, got {v}")
        if maximum is not None and v > maximum:
            raise ConfigError(key, f"must be at most {maximum:g}, got {v:g}")
        return float(v)

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _MISSING) -> str:
        v = self.str(key, default)
        if v not in choices:
            raise ConfigError(key, f"must be one of {', '.join(choices)}, got {v!r}")
        return v

    def list_of_str(self, key: str, default: Any = _MISSING) -> list[str]:
        v = self._get(key, default)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ConfigError(key, "must be a list of strings")
        return v

    def resolve(self, p: str) -> Path:
        path = Path(p).expanduser()
        return path if path.is_absolute() else (self.base / path)

    def path(self, key: str, default: Any = _MISSING) -> Path | None:
        v = self._get(key, default)
        if v is None or v == "":
            return None
        if not isinstance(v, str):
            raise ConfigError(key, f"must be a path string, got {type(v).__name__}")
        return self.resolve(v)

    def check_unknown(self) -> None:
        """Report the first key present in the file that nothing read."""
        def walk(node: dict, prefix: str):
            for k, v in node.items():
                key = f"{prefix}{k}"
                if key in self.used and not isinstance(v, dict):
                    continue
                if isinstance(v, dict):
                    yield from walk(v, key + ".")
                elif key not in self.used:
                    yield key
        for key in walk(self.data, ""):
            raise ConfigError(key, "unknown key (misspelt?)")
