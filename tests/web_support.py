"""A store for the web console's tests, filled by the real poll from a Maildir,
and a real waitress server on loopback serving the console."""

from __future__ import annotations

import io
import threading
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PIL import Image

from abuse_intake import config
from abuse_intake.store.db import open_db
from abuse_intake.web import auth
from helpers import cli, email, make_maildir, write_config

PASSWORDS = {"lead1": "lead-password-1", "tri1": "triager-password-1", "view1": "viewer-password-1"}
ROLES = {"lead1": "lead", "tri1": "triager", "view1": "viewer"}
HOSTILE = ('Akun @hostile_acc menipu saya, scam. <script>window.__pwned = 1</script> '
           '<img src=x onerror="window.__pwned = 2"> {{ 7*7 }} end.')


def jpeg_bytes(color=(200, 30, 30), size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


def with_image(*, sender: str, subject: str, body: str, image: bytes, filename: str = "bukti.jpg",
               when: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Reporter <{sender}>"
    msg["To"] = "support@obrolan.example"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<img-{sender}-{when.timestamp():.0f}@example.test>"
    msg.set_content(body)
    msg.add_attachment(image, maintype="image", subtype="jpeg", filename=filename)
    msg.add_attachment(b"%PDF-1.4 not really\n", maintype="application", subtype="pdf", filename="chat.pdf")
    return msg.as_bytes()


def build_store(tmp: Path, *, replace: dict | None = None) -> Path:
    """Five cases, made by `poll` from real emails:
    dewi_manja88 (prostitution, high, 2 reporters, an image), trafo_acc (critical),
    hostile_acc (other, low, hostile text), cantik_vulgar (sexual_content, medium), one needs_info."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    day = timedelta(days=1)
    msgs = [
        with_image(sender="andi@example.com", subject="Laporan open BO",
                   body="Akun @dewi_manja88 menawarkan open BO, tarif 500rb.", image=jpeg_bytes(),
                   when=now - 3 * day),
        email(sender="budi@example.com", subject="Lapor akun",
              body="Saya melaporkan akun @dewi_manja88 yang menawarkan open BO.", date=now - 2 * day),
        email(sender="citra@example.com", subject="Human trafficking",
              body="The account @trafo_acc is selling women, please act.", date=now - 1 * day),
        email(sender="dodi@example.com", subject="Penipuan <b>bold</b>", body=HOSTILE, date=now - 4 * day),
        email(sender="eka@example.com", subject="Foto vulgar",
              body="Akun @cantik_vulgar pasang foto bugil di profil.", date=now - 5 * day),
        email(sender="fina@example.com", subject="Ada yang jual cewek",
              body="Ada orang open BO di grup, saya tidak tahu akunnya.", date=now - 6 * day),
    ]
    make_maildir(tmp / "mailbox", msgs)
    cfg = write_config(tmp, replace=replace)
    proc = cli(cfg, "poll")
    assert proc.returncode == 0, proc.stderr
    return cfg


def add_users(settings: config.Settings) -> None:
    db = open_db(settings.database_path)
    try:
        for name, role in ROLES.items():
            auth.add_user(db, name, role=role, password=PASSWORDS[name])
    finally:
        db.conn.close()


class Server:
    """The console served by waitress on a free loopback port, in a thread."""

    def __init__(self, settings: config.Settings):
        import waitress.server
        from abuse_intake.web.app import create_app, server_options
        self.app = create_app(settings)
        options = {**server_options(settings), "threads": 4}
        self.server = waitress.server.create_server(self.app, host="127.0.0.1", port=0, **options)
        self.url = f"http://127.0.0.1:{self.server.effective_port}{options['url_prefix']}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.close()
        self.thread.join(timeout=5)
