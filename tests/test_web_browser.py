"""The web console in a real browser: Debian's headless Chromium driven by
Playwright (never `playwright install`: the browser comes from apt, see
`make test-deps`). One browser for the session, a new page per test.
Screenshots are saved under $ABUSE_INTAKE_TEST_ARTEFACTS (default
<tmp>/abuse-intake-test-artefacts), never in the repository."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import Page, expect

from abuse_intake import config
from abuse_intake.cli import cli as cli_group
from web_support import PASSWORDS, Server, add_users, build_store

CHROMIUM = "/usr/bin/chromium"
ARTEFACTS = Path(os.environ.get("ABUSE_INTAKE_TEST_ARTEFACTS",
                                Path(tempfile.gettempdir()) / "abuse-intake-test-artefacts"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    assert Path(CHROMIUM).exists(), "Chromium missing: `make test-deps` installs it (apt-get install chromium)"
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--no-first-run",
                     "--disable-sync", "--disable-default-apps", "--metrics-recording-only"]}


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    cfg = build_store(tmp)
    settings = config.load(cfg)
    add_users(settings)
    server = Server(settings)
    yield cfg, server.url
    server.close()


def shot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def cli_json(cfg: Path, *args: str):
    result = CliRunner().invoke(cli_group, ["--config", str(cfg), *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def ref_of(cfg: Path, account: str) -> str:
    return [c["ref"] for c in cli_json(cfg, "cases", "list", "--status", "all") if c["account_id"] == account][0]


def log_in(page: Page, url: str, name: str, password: str | None = None) -> None:
    page.goto(url + "/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password or PASSWORDS[name])
    page.click("button[type=submit]")


def test_log_in_and_the_queue_shows_open_cases_in_order(console, page: Page):
    cfg, url = console
    log_in(page, url, "tri1")
    expect(page.locator("#who")).to_have_text("tri1 (triager)")
    page.goto(url + "/?status=open")
    links = page.locator("#queue tbody a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    wanted = [f"/cases/{c['ref']}" for c in cli_json(cfg, "cases", "list", "--status", "open")]
    assert links == wanted and len(wanted) >= 3
    # The most severe first: the critical trafficking case leads.
    expect(page.locator("#queue tbody tr").first).to_contain_text("critical")
    shot(page, "queue")


def test_wrong_password_is_refused(console, page: Page):
    _, url = console
    log_in(page, url, "tri1", "not-the-password")
    expect(page.locator(".error")).to_contain_text("wrong user name or password")
    assert page.url.endswith("/login")
    page.goto(url + "/")
    assert "/login" in page.url


def test_anonymous_request_is_sent_to_login(console, page: Page):
    _, url = console
    page.goto(url + "/stats")
    assert re.search(r"/login\?next=/stats", page.url)
    expect(page.locator("input[name=username]")).to_be_visible()
    # After logging in, the user lands where they were going.
    page.fill("input[name=username]", "view1")
    page.fill("input[name=password]", PASSWORDS["view1"])
    page.click("button[type=submit]")
    page.wait_for_url(url + "/stats")
    expect(page.locator("svg.chart")).to_have_count(3)
    shot(page, "stats")


def test_case_page_shows_reports_and_account_history(console, page: Page):
    cfg, url = console
    ref = ref_of(cfg, "dewi_manja88")
    log_in(page, url, "view1")
    page.goto(f"{url}/cases/{ref}")
    expect(page.locator("article.report")).to_have_count(2)
    expect(page.locator("#reports")).to_contain_text("tarif 500rb")
    expect(page.locator("#history")).to_contain_text("dewi_manja88: active")
    expect(page.locator("#history")).to_contain_text("0 confirmed violation(s) in the last 365 days")
    shot(page, "case")


def test_a_blurred_image_stays_blurred_until_clicked(console, page: Page):
    cfg, url = console
    log_in(page, url, "view1")
    page.goto(f"{url}/cases/{ref_of(cfg, 'dewi_manja88')}")
    img = page.locator("button.evidence img").first
    expect(img).to_be_visible()
    assert img.evaluate("i => i.complete && i.naturalWidth > 0")  # the thumbnail loaded
    blur = lambda: img.evaluate("i => getComputedStyle(i).filter")  # noqa: E731
    assert "blur" in blur()
    page.mouse.move(5, 5)
    page.wait_for_timeout(300)
    assert "blur" in blur()  # time and hovering elsewhere do not reveal it
    shot(page, "evidence-blurred")
    page.locator("button.evidence").first.click()
    assert blur() == "none"
    shot(page, "evidence-revealed")


def test_hostile_report_shows_literally_and_runs_nothing(console, page: Page):
    cfg, url = console
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, url, "view1")
    page.goto(f"{url}/cases/{ref_of(cfg, 'hostile_acc')}")
    text = page.locator("pre.text").first
    expect(text).to_contain_text("<script>window.__pwned = 1</script>")
    expect(text).to_contain_text('<img src=x onerror="window.__pwned = 2">')
    expect(text).to_contain_text("{{ 7*7 }}")
    expect(page.locator("p.subject").first).to_have_text("Subject: Penipuan <b>bold</b>")
    page.wait_for_timeout(200)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#reports script, #reports img[src=x]").count() == 0
    assert errors == []
    shot(page, "hostile")


def test_viewer_cannot_decide(console, page: Page):
    cfg, url = console
    ref = ref_of(cfg, "cantik_vulgar")
    log_in(page, url, "view1")
    page.goto(f"{url}/cases/{ref}")
    expect(page.locator("#decide-form")).to_have_count(0)
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    resp = page.request.post(f"{url}/cases/{ref}/decide", form={"violation": "sexual_content", "csrf_token": token})
    assert resp.status == 403
    assert cli_json(cfg, "cases", "show", ref)["status"] == "open"


def test_forged_post_with_the_session_cookie_but_no_token_gets_403(console, page: Page):
    cfg, url = console
    ref = ref_of(cfg, "cantik_vulgar")
    log_in(page, url, "tri1")
    page.goto(f"{url}/cases/{ref}")
    before = cli_json(cfg, "cases", "show", ref)
    # page.request carries the browser context's cookies: the real session, no token.
    resp = page.request.post(f"{url}/cases/{ref}/decide", form={"violation": "sexual_content"})
    assert resp.status == 403
    after = cli_json(cfg, "cases", "show", ref)
    assert after["status"] == "open" and after["audit"] == before["audit"] and after["decided_by"] is None


def test_deciding_in_the_browser_records_the_user_and_queues_outcomes(console, page: Page):
    cfg, url = console
    ref = ref_of(cfg, "dewi_manja88")
    log_in(page, url, "tri1")
    page.goto(f"{url}/cases/{ref}")
    page.check("input[name=violation][value=prostitution]")
    # The preview of what the ladder picks and who gets which email is highlighted.
    chosen = page.locator("tr.preview.chosen")
    expect(chosen).to_contain_text("high #1 -> restrict 30 days")
    expect(chosen).to_contain_text("outcome_actioned (id) → andi@example.com")
    page.fill("textarea[name=note]", "confirmed from the screenshot")
    shot(page, "decide-form")
    page.click("#decide-form button[type=submit]")
    expect(page.locator(".done")).to_contain_text("decided")
    expect(page.locator("#case-status")).to_contain_text("decided — violation (prostitution) by tri1")
    shown = cli_json(cfg, "cases", "show", ref)
    assert shown["decided_by"] == "tri1" and shown["decision"] == "violation"
    assert shown["sanctions"][0]["action"] == "restrict" and shown["sanctions"][0]["decided_by"] == "tri1"
    audit = [(a["actor"], a["action"]) for a in shown["audit"]]
    assert audit == [("tri1", "decide")]
    outcomes = {(o["to"], o["status"]) for o in cli_json(cfg, "outbox", "list") if o["kind"] == "outcome_actioned"
                and ref in o["case_refs"]}
    assert outcomes == {("andi@example.com", "pending"), ("budi@example.com", "pending")}
    expect(page.locator("#emails")).to_contain_text("outcome_actioned")
    shot(page, "decided")
