"""Typed errors. Every error the library raises derives from IntakeError;
the CLI maps them to messages and sysexits-style exit codes."""

EX_OK = 0
EX_DATAERR = 65
EX_IOERR = 74  # the database cannot be used
EX_CANTCREAT = 73  # another run holds the lock
EX_TEMPFAIL = 75  # mailbox/SMTP unreachable: nothing lost, try again later
EX_CONFIG = 78


class IntakeError(Exception):
    """Root of all abuse-intake errors."""

    exit_code = 1


class ConfigError(IntakeError):
    """A configuration key is missing or has a bad value."""

    exit_code = EX_CONFIG

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"config: {key}: {problem}")


class MailboxError(IntakeError):
    """The mailbox could not be reached or answered badly (temporary)."""

    exit_code = EX_TEMPFAIL


class MailboxLoginError(MailboxError):
    """The mailbox refused our login: the user or password is wrong, retrying will not help."""

    exit_code = EX_CONFIG


class DeliveryError(IntakeError):
    """Outgoing mail could not be handed over."""

    exit_code = EX_TEMPFAIL

    def __init__(self, message: str, permanent: bool = False):
        self.permanent = permanent
        super().__init__(message)


class StoreError(IntakeError):
    """The database could not be used (missing folder, not a directory, disk full)."""

    exit_code = EX_IOERR


class StoreBusyError(StoreError):
    """The database stayed locked by another writer past the busy timeout."""

    exit_code = EX_TEMPFAIL


class LockedError(IntakeError):
    """Another poll run holds the lock."""

    exit_code = EX_CANTCREAT


class NotFoundError(IntakeError):
    """A case, message, account or sanction named on the command line does not exist."""

    exit_code = EX_DATAERR


class InvalidActionError(IntakeError):
    """A staff action that the case's state (or what was given) does not allow.

    `field` names the input at fault, as the library's parameter ("by",
    "note", "account_id"...), so a front door can add its own wording (a
    CLI flag, a form field); the message itself speaks of the thing.
    """

    exit_code = EX_DATAERR

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


class ParseError(IntakeError):
    """A message could not be parsed; it is quarantined."""


class TemplateError(IntakeError):
    """A template is missing or failed to render."""

    exit_code = EX_CONFIG


class ReplayError(IntakeError):
    """A quarantined message failed again on replay; it stays quarantined."""

    exit_code = EX_DATAERR


class TransportConfigError(DeliveryError):
    """The outgoing transport is misconfigured (login refused, no STARTTLS,
    untrusted certificate): retrying will not help, fixing the config will."""

    exit_code = EX_CONFIG

    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class ExportError(IntakeError):
    """Evidence or a raw message could not be written where the user asked."""

    exit_code = EX_CANTCREAT


class TokenEndpointError(IntakeError):
    """The OAuth2 token endpoint could not be reached or answered 5xx (temporary)."""

    exit_code = EX_TEMPFAIL
