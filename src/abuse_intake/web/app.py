"""The staff web console: a Flask app over the library (no SQL, no triage rule here).

Flask + waitress were chosen because the whole library is synchronous SQLite
code: a plain WSGI app calls it directly from waitress's worker threads (one
connection per thread), with no async/thread-pool hand-over and no extra
multipart parser; waitress is pure Python and production-grade.

Sessions are our own (web/auth.py: a random cookie, an HMAC of it in the
database), not Flask's signed-cookie session. Every state-changing form
carries a CSRF token derived from the session; a POST without a valid one
gets 403 and changes nothing.
"""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, redirect, render_template, request, url_for
from markupsafe import Markup

from .. import localtime
from ..cases import lifecycle, triage
from ..config import SEVERITIES, Settings
from ..errors import IntakeError, NotFoundError
from ..policy import enforcement
from ..store import blobs
from ..store import search as search_store
from ..store.db import open_db
from . import auth, charts, images, views

log = logging.getLogger(__name__)
# The actions whose commit can create or revoke a sanction: the enforcement
# command hears of it at once, as after the CLI's `decide` / `sanctions revoke`.
HANDS_OVER = ("decide", "reopen", "revoke")

COOKIE = "abuse_intake_session"
LOGIN_COOKIE = "abuse_intake_login"  # double-submit token for the login form (no session yet)
HERE = Path(__file__).resolve().parent


def create_app(settings: Settings, *, secret: bytes | None = None) -> Flask:
    app = Flask("abuse_intake.web", template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024  # forms only: nothing is uploaded
    app.jinja_env.autoescape = True  # every template, whatever its extension
    secret = secret or auth.load_or_create_secret(settings.web.secret_key_file)
    sessions = auth.Sessions(secret, idle=timedelta(minutes=settings.web.session_idle_minutes),
                             absolute=timedelta(hours=settings.web.session_max_hours))
    secure = settings.web.base_url.startswith("https://")
    local = threading.local()

    if settings.web.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix
        n = settings.web.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)

    def db():
        # One connection per server thread: a sqlite_utils Database must not be shared across threads.
        if getattr(local, "db", None) is None:
            local.db = open_db(settings.database_path, settings.busy_timeout_ms)
        return local.db

    app.extensions["abuse_intake"] = {"settings": settings, "sessions": sessions, "db": db}

    @app.template_filter("local")
    def _local(value, seconds=False):
        return localtime.local(value, settings.timezone, seconds=seconds)

    @app.template_filter("size")
    def _size(n):
        n = int(n or 0)
        for unit in ("bytes", "KB", "MB", "GB"):
            if n < 1024 or unit == "GB":
                return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
            n /= 1024

    @app.context_processor
    def _context():
        s = getattr(g, "session", None)
        return {"user": s.user if s else None, "csrf_token": s.csrf_token if s else "",
                "platform": settings.platform_name, "timezone": settings.timezone}

    @app.before_request
    def _authenticate():
        g.session = sessions.lookup(db(), request.cookies.get(COOKIE))
        if request.endpoint in ("login", "static", "favicon"):
            return None
        if g.session is None:
            if request.method in ("GET", "HEAD"):
                return redirect(url_for("login", next=request.full_path.rstrip("?")))
            abort(403)
        if request.method == "POST" and not sessions.check_csrf(g.session, request.form.get("csrf_token")):
            abort(403)
        return None

    @app.after_request
    def _headers(resp: Response) -> Response:
        h = resp.headers
        h["Content-Security-Policy"] = ("default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
                                        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        h["X-Content-Type-Options"] = "nosniff"
        h["X-Frame-Options"] = "DENY"
        h["Referrer-Policy"] = "same-origin"
        h.setdefault("Cache-Control", "no-store")
        return resp

    def require(action: str):
        if not g.session.user.can(action):
            abort(403)

    @app.get("/favicon.ico")
    def favicon():
        return Response(status=404)

    # -- login / logout ---------------------------------------------------

    @app.route("/login", methods=["GET", "POST"])
    def login():
        nxt = _safe_next(request.values.get("next"))
        if request.method == "GET":
            if g.session is not None:
                return redirect(nxt)
            return _login_page(nxt, None, 200)
        offered, cookie = request.form.get("login_token"), request.cookies.get(LOGIN_COOKIE)
        if not offered or not cookie or not secrets.compare_digest(offered, cookie):
            abort(403)
        try:
            s = sessions.login(db(), request.form.get("username", ""), request.form.get("password", ""),
                               address=request.remote_addr)
        except auth.LoginThrottled as exc:
            return _login_page(nxt, str(exc), 429)
        except auth.LoginRefused as exc:
            return _login_page(nxt, str(exc), 401)
        resp = redirect(nxt)
        resp.set_cookie(COOKIE, s.token, httponly=True, samesite="Lax", secure=secure,
                        max_age=settings.web.session_max_hours * 3600, path=request.script_root or "/")
        resp.delete_cookie(LOGIN_COOKIE, path=request.script_root or "/")
        return resp

    def _login_page(nxt: str, error: str | None, status: int):
        # Keep the browser's token if it has one: a second login page rendered meanwhile (another
        # tab, a redirected /favicon.ico) must not invalidate the form already on screen.
        token = request.cookies.get(LOGIN_COOKIE) or ""
        if not (32 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum()):
            token = secrets.token_urlsafe(24)
        resp = Response(render_template("login.html", next=nxt, error=error, login_token=token), status=status)
        resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=secure, max_age=3600,
                        path=request.script_root or "/")
        return resp

    @app.post("/logout")
    def logout():
        sessions.logout(db(), g.session.token)
        resp = redirect(url_for("login"))
        resp.delete_cookie(COOKIE, path=request.script_root or "/")
        return resp

    # -- queue -----------------------------------------------------------

    @app.get("/")
    def queue():
        f = views.QueueFilter.from_args(request.args, settings)
        q = views.queue(db(), settings, f)
        return render_template("queue.html", q=q, f=f, categories=list(settings.categories), severities=SEVERITIES,
                               statuses=views.STATUSES, ages=list(views.AGES))

    @app.post("/bulk/decide")
    def bulk_decide():
        require("bulk")
        violation = request.form.get("violation", "")
        if violation != "none" and violation not in settings.categories:
            abort(400)
        try:
            items = lifecycle.decide_many(db(), settings, request.form.getlist("ref"), by=g.session.user.name,
                                          violation=None if violation == "none" else violation,
                                          note=request.form.get("note") or None)
        except IntakeError as exc:
            return render_template("error.html", code=400, message=str(exc)), 400
        _hand_over()
        return render_template("bulk.html", items=items, violation=violation)

    # -- one case -----------------------------------------------------------

    def _case_page(ref: str, error: str | None = None, status: int = 200, done: str | None = None):
        try:
            page = views.case_page(db(), settings, ref)
        except NotFoundError:
            abort(404)
        prior = page.history["account"].violations_in_window if page.history["account"] else 0
        from ..store.db import utcnow
        return render_template("case.html", p=page, c=page.case, error=error, done=done, severities=SEVERITIES,
                               severity_rules=views.severity_previews(settings, prior, utcnow())), status

    @app.get("/cases/<ref>")
    def case(ref: str):
        return _case_page(ref, done=request.args.get("done"))

    def _act(ref: str, action: str, fn, done: str):
        require(action)
        try:
            fn()
        except NotFoundError:
            abort(404)
        except IntakeError as exc:
            return _case_page(ref, error=str(exc), status=409)
        if action in HANDS_OVER:
            _hand_over()
        return redirect(url_for("case", ref=ref.upper(), done=done), code=303)

    def _hand_over() -> None:
        # As `decide` and `sanctions revoke` do in the CLI: the sanction (or its
        # revocation) goes to the enforcement command right after the commit.
        # Sanctions are claimed with a lease, so a poll doing the same never runs
        # it twice; a failure stays due for the next poll and shows in `status`.
        try:
            report = enforcement.run_pending(db(), settings)
        except IntakeError as exc:
            log.warning("enforcement after a web action: %s", exc)
            return
        for sanction_id, error in report.failed:
            log.warning("enforcement of sanction %s failed (%s); the next poll retries it", sanction_id, error)

    @app.post("/cases/<ref>/decide")
    def decide(ref: str):
        violation = request.form.get("violation", "")
        severity = request.form.get("severity") or None
        if violation != "none" and violation not in settings.categories:
            return _case_page(ref, error="choose a category, or “none” for no violation", status=400)
        measure = (request.form.get("measure") or "").strip() or None
        if measure == "restrict":
            measure = f"restrict:{(request.form.get('days') or '').strip()}"
        return _act(ref, "decide", lambda: triage.decide(
            db(), settings, ref, by=g.session.user.name, violation=None if violation == "none" else violation,
            severity=severity if violation != "none" else None, note=request.form.get("note"),
            measure=measure if violation != "none" else None,
            reason=(request.form.get("reason") or "").strip() or None), "decided")

    @app.post("/cases/<ref>/reopen")
    def reopen(ref: str):
        return _act(ref, "reopen", lambda: lifecycle.reopen(db(), settings, ref, by=g.session.user.name,
                                                              note=request.form.get("note", "")), "reopened")

    @app.post("/cases/<ref>/emails/<int:outbox_id>/cancel")
    def cancel_email(ref: str, outbox_id: int):
        return _act(ref, "decide", lambda: lifecycle.cancel_email(db(), outbox_id, by=g.session.user.name,
                                                                    note=request.form.get("note", "")),
                    "email cancelled")

    @app.post("/cases/<ref>/note")
    def note(ref: str):
        return _act(ref, "note", lambda: triage.add_note(db(), ref, by=g.session.user.name,
                                                           text=request.form.get("text", "")), "noted")

    @app.post("/cases/<ref>/assign")
    def assign(ref: str):
        user = g.session.user
        if request.form.get("take"):
            # Taking a case someone else holds is refused, except for a lead (recorded as forced).
            return _act(ref, "assign", lambda: lifecycle.claim(db(), ref, by=user.name, force=user.can("reopen")),
                        "taken")
        return _act(ref, "assign", lambda: triage.assign(db(), ref, to=request.form.get("to", ""), by=user.name),
                    "assigned")

    @app.post("/cases/<ref>/link")
    def link(ref: str):
        return _act(ref, "link", lambda: triage.link_account(db(), settings, ref,
                                                               account_id=request.form.get("account_id", ""),
                                                               by=g.session.user.name), "linked")

    @app.post("/cases/<ref>/revoke")
    def revoke(ref: str):
        try:
            sanction_id = int(request.form.get("sanction_id", ""))
        except ValueError:
            return _case_page(ref, error="no sanction chosen", status=400)
        return _act(ref, "revoke", lambda: triage.revoke(db(), settings, sanction_id, by=g.session.user.name,
                                                           note=request.form.get("note", "")), "revoked")

    # -- appeals (lead role; issue 14.1) -----------------------------------------

    @app.get("/appeals")
    def appeals():
        require("appeal")
        from ..appeals import service as appeal_service
        status = request.args.get("status", "open")
        try:
            rows = appeal_service.list_appeals(db(), status)
        except IntakeError as exc:
            return render_template("error.html", code=400, message=str(exc)), 400
        return render_template("appeals.html", rows=rows, status=status,
                               statuses=(*appeal_service.STATUSES, "all"))

    def _appeal_page(appeal_id: int, error: str | None = None, done: str | None = None, status: int = 200):
        from ..appeals import service as appeal_service
        try:
            a = appeal_service.show(db(), appeal_id)
        except IntakeError:
            abort(404)
        return render_template("appeal.html", a=a, error=error, done=done), status

    @app.get("/appeals/<int:appeal_id>")
    def appeal(appeal_id: int):
        require("appeal")
        return _appeal_page(appeal_id, done=request.args.get("done"))

    @app.post("/appeals/<int:appeal_id>/decide")
    def decide_appeal(appeal_id: int):
        require("appeal")
        from ..appeals import service as appeal_service
        outcome = request.form.get("outcome", "")
        try:
            result = appeal_service.decide(db(), settings, appeal_id, outcome=outcome, by=g.session.user.name,
                                           note=request.form.get("note", ""), force=bool(request.form.get("force")))
        except IntakeError as exc:
            return _appeal_page(appeal_id, error=str(exc), status=409)
        if result.revoked_sanction:
            _hand_over()  # the revocation goes to the enforcement command now, as other actions do
        return redirect(url_for("appeal", appeal_id=appeal_id, done=result.appeal.status), code=303)

    # -- evidence -------------------------------------------------------------

    def _attachment(attachment_id: int) -> tuple[dict, bytes]:
        row = search_store.attachment(db(), attachment_id)
        if row is None or not row["sha256"]:
            abort(404)
        data = blobs.get_attachment(db(), row["sha256"])
        if data is None:
            abort(404)
        return row, data

    @app.get("/attachments/<int:attachment_id>")
    def attachment(attachment_id: int):
        row, data = _attachment(attachment_id)
        shown = images.for_display(data, row["sha256"]) if request.args.get("view") else None
        if shown is not None:
            resp = Response(shown[0], mimetype=shown[1])
            resp.headers["Content-Disposition"] = "inline"
        else:
            # Anything that is not shown as an image is a download, whatever the sender called it.
            resp = Response(data, mimetype="application/octet-stream")
            resp.headers["Content-Disposition"] = _disposition(row["filename"], f"attachment-{attachment_id}")
        resp.headers["Cache-Control"] = "private, no-store"
        return resp

    @app.get("/attachments/<int:attachment_id>/thumb")
    def thumb(attachment_id: int):
        row, data = _attachment(attachment_id)
        shown = images.thumbnail(data, row["sha256"])
        if shown is None:
            abort(404)
        resp = Response(shown[0], mimetype=shown[1])
        resp.headers["Cache-Control"] = "private, max-age=3600"
        return resp

    @app.get("/messages/<int:message_row>/raw")
    def raw(message_row: int):
        digest = search_store.raw_sha_of_message(db(), message_row)
        data = blobs.get_raw(db(), digest) if digest else None
        if data is None:
            abort(404)
        resp = Response(data, mimetype="message/rfc822")
        resp.headers["Content-Disposition"] = f'attachment; filename="message-{message_row}.eml"'
        return resp

    # -- dashboard -----------------------------------------------------------

    @app.get("/stats")
    def stats():
        s = views.stats(db(), settings)
        per_day = charts.stacked_bars(s.days, s.categories, lambda d, c: s.per_day.get((d, c), 0),
                                      title="Reports per day by category (30 days)")
        by_sev = charts.hbars([(sev, sum(s.open_by.get((sev, b), 0) for b in s.bands)) for sev in SEVERITIES],
                              title="Waiting cases by severity")
        by_age = charts.hbars([(b, sum(s.open_by.get((sev, b), 0) for sev in SEVERITIES)) for b in s.bands],
                              title="Waiting cases by age")
        return render_template("stats.html", s=s, per_day_svg=per_day, by_sev_svg=by_sev, by_age_svg=by_age,
                               severities=SEVERITIES)

    @app.get("/stats/transparency")
    def stats_transparency():
        # Any signed-in role: the figures are published anyway (DSA Art. 15), and name no one.
        from ..cases import transparency
        from ..store.db import utcnow
        today = utcnow().date()
        try:
            start = transparency.parse_day(request.args.get("from") or (today - timedelta(days=29)).isoformat(),
                                           "from")
            end = transparency.parse_day(request.args.get("to") or today.isoformat(), "to")
            t = transparency.transparency_report(db(), settings, start, end)
        except IntakeError as exc:
            return render_template("error.html", code=400, message=str(exc)), 400
        return render_template("transparency.html", t=t)

    @app.errorhandler(403)
    def _forbidden(exc):
        return render_template("error.html", code=403, message="Forbidden: not allowed, or the form was stale "
                               "(reload the page and try again)."), 403

    @app.errorhandler(404)
    def _not_found(exc):
        return render_template("error.html", code=404, message="Not found."), 404

    @app.errorhandler(500)
    def _server_error(exc):
        # Flask logs the traceback; the page says only that it failed (no internals to the browser).
        return render_template("error.html", code=500, message="Something went wrong on the server; "
                               "the operator's log has the details."), 500

    @app.errorhandler(413)
    def _too_big(exc):
        return render_template("error.html", code=413, message="That form was too large."), 413

    return app


def _safe_next(value: str | None) -> str:
    """Only a path on this site: `next=//evil.example` or `https://...` goes to the queue."""
    value = (value or "").strip()
    parts = urlsplit(value)
    if not value.startswith("/") or value.startswith("//") or parts.scheme or parts.netloc or "\\" in value:
        return url_for("queue")
    return value


def _disposition(filename: str | None, fallback: str) -> str:
    from urllib.parse import quote
    name = "".join(ch for ch in (filename or "") if ch.isprintable() and ch not in '"\\/') or fallback
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def server_options(settings: Settings) -> dict:
    """waitress's settings for this config: the base_url's path as the prefix; proxy headers kept
    only when [web] trusted_proxies says a proxy is in front (ProxyFix then reads them)."""
    path = urlsplit(settings.web.base_url).path.rstrip("/") if settings.web.base_url else ""
    return {"url_prefix": path, "threads": settings.web.threads, "ident": "abuse-intake",
            "clear_untrusted_proxy_headers": not settings.web.trusted_proxies}


def serve(settings: Settings, listen: str | None = None) -> None:
    """Run the console with waitress until interrupted."""
    import waitress
    waitress.serve(create_app(settings), listen=listen or settings.web.listen, **server_options(settings))


_ = Markup  # re-exported for templates' helpers
