"""aiosmtpd SMTP server fixtures (filled in by the email work)."""
