"""`abuse-intake oauth2 authorize|token-info`: the first refresh token, and what is stored."""

from __future__ import annotations

import click

from .common import App, echo_json, pass_app


@click.group("oauth2")
def oauth2_group() -> None:
    """OAuth2 (XOAUTH2) for the mailbox and outgoing SMTP.

    \b
    Example:
      abuse-intake --config /etc/abuse-intake/config.toml oauth2 authorize
    """


def _settings_for(app: App, which: str):
    from ..errors import ConfigError

    section = app.settings.mailbox if which == "mailbox" else app.settings.outgoing
    if section.auth != "oauth2" or section.oauth2 is None:
        raise ConfigError(f"{which}.auth", 'is not "oauth2"')
    return section.oauth2


@oauth2_group.command("authorize")
@click.option("--for", "which", type=click.Choice(["mailbox", "outgoing"]), default="mailbox",
              show_default=True, help="Which login the token is for.")
@pass_app
def authorize(app: App, which: str) -> None:
    """Get the first refresh token with the device-code flow (RFC 8628) and store it.

    Prints a code and a web address: open the address on any device, sign in
    as the mailbox user and enter the code. The refresh token goes into the
    database (never to the screen); from then on it is refreshed and rotated
    by itself. Only for `grant = "refresh_token"`.

    \b
    Example:
      abuse-intake --config /etc/abuse-intake/config.toml oauth2 authorize --for mailbox
    """
    from ..errors import ConfigError
    from ..intake import oauth2
    from ..store.tokens import DbTokenStore

    o = _settings_for(app, which)
    if o.grant != "refresh_token":
        raise ConfigError(o.key("grant"), "client_credentials needs no authorization: `doctor` checks it")
    code = oauth2.start_device_flow(o)
    where = code.verification_uri_complete or code.verification_uri
    click.echo(f"To authorize abuse-intake, open {where} and enter the code {code.user_code}", err=True)
    click.echo(f"(waiting up to {code.expires_in / 60:.0f} minutes)", err=True)
    oauth2.finish_device_flow(o, code, DbTokenStore(app.db))
    click.echo(f"authorized: a refresh token for {which} is stored in {app.settings.database_path}", err=True)


@oauth2_group.command("token-info")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def token_info(app: App, as_json: bool) -> None:
    """Which OAuth2 credentials are stored and when the access token expires (never the tokens).

    \b
    Example:
      abuse-intake oauth2 token-info --json
    """
    from ..store import tokens

    rows = tokens.names(app.db)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        click.echo(f"{r['name']}: refresh token {'stored' if r['has_refresh_token'] else 'none'}, "
                   f"updated {r['updated_at']}")
    if not rows:
        click.echo("(none)")


COMMANDS = [oauth2_group]
