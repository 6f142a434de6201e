"""`make web`: give the demo store a lead user "demo" with a new random password, and print it."""

from __future__ import annotations

import secrets
import sys

from .. import config
from ..errors import NotFoundError
from ..store.db import open_db
from . import auth


def main(config_path: str) -> None:
    settings = config.load(config_path)
    db = open_db(settings.database_path, settings.busy_timeout_ms)
    password = secrets.token_urlsafe(12)
    try:
        auth.get_user(db, "demo")
        auth.set_password(db, "demo", password)
        auth.enable_user(db, "demo")
    except NotFoundError:
        auth.add_user(db, "demo", role="lead", password=password)
    finally:
        db.conn.close()
    print(f"web console: http://{settings.web.listen}/  user: demo  password: {password}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "config.example.toml")
