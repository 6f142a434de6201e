"""`abuse-intake web`: serve the staff console."""

from __future__ import annotations

import click

from .common import App, pass_app


@click.command("web")
@click.option("--listen", metavar="HOST:PORT", help="Address to serve on (default: [web] listen, 127.0.0.1:8080).")
@pass_app
def web(app: App, listen: str | None) -> None:
    """Serve the staff web console (waitress) from the same config and database as `poll`.

    Create a user first with `abuse-intake users add NAME --role lead`.

    \b
    Example:
      abuse-intake web --listen 127.0.0.1:8080
    """
    if listen is not None:
        host, sep, port = listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise click.BadParameter(f"expected HOST:PORT, got {listen!r}", param_hint="--listen")
    from ..web.app import serve  # late: flask and waitress load only for this command
    settings = app.settings
    app.db  # open (and migrate) the database before serving, so a bad path fails here, at once
    click.echo(f"abuse-intake web console on http://{listen or settings.web.listen}/ (Ctrl-C stops)", err=True)
    serve(settings, listen)


COMMANDS = [web]
