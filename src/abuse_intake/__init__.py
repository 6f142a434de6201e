"""abuse-intake: a chat platform's abuse-report mailbox, turned into cases."""

__version__ = "0.1.0"
