"""Dovecot IMAP server fixtures (filled in by the IMAP work)."""
