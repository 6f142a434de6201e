"""Appeals (issue 14.1): an account holder contests a sanction of their own
account, or a reporter contests a "no violation" outcome.

detect.py says whether a message is one (pure: no database); service.py
records, lists and decides them (the library the CLI and web call).
"""
