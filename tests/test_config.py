"""Configuration: every bad key is named, paths are relative to the file, secrets stay out."""

from __future__ import annotations

import pytest

from abuse_intake import config
from abuse_intake.errors import ConfigError
from helpers import REPO, write_config


def test_example_config_loads_with_the_documented_defaults():
    s = config.load(REPO / "config.example.toml")
    assert s.support_address == "support@obrolan.example"
    assert s.mailbox.scheme == "maildir" and s.mailbox.path == REPO / "examples" / "mailbox"
    assert {c: s.categories[c].severity for c in s.categories} == {
        "human_trafficking": "critical", "prostitution": "high", "sexual_solicitation": "high",
        "sexual_content": "medium", "other": "low"}
    assert [st.action for st in s.policy.ladder["medium"]] == ["restrict", "restrict", "ban"]
    assert s.database_path == REPO / "data" / "abuse-intake.db"


@pytest.mark.parametrize("url, scheme, host, port, user, folder", [
    ("imap://support%40obrolan.example@mail.example/INBOX", "imap", "mail.example", 143, "support@obrolan.example", "INBOX"),
    ("imaps://u@mail.example:9993/Reports", "imaps", "mail.example", 9993, "u", "Reports"),
    ("imap+starttls://u@mail.example", "imap+starttls", "mail.example", 143, "u", "INBOX"),
])
def test_mailbox_urls(tmp_path, url, scheme, host, port, user, folder):
    s = config.load(write_config(tmp_path, mailbox_url=url))
    assert (s.mailbox.scheme, s.mailbox.host, s.mailbox.port, s.mailbox.user, s.mailbox.folder) == \
        (scheme, host, port, user, folder)


@pytest.mark.parametrize("url, scheme, port", [
    ("smtp://relay.example", "smtp", 25), ("smtps://relay.example", "smtps", 465),
    ("smtp+starttls://u@relay.example:2587", "smtp+starttls", 2587)])
def test_outgoing_urls(tmp_path, url, scheme, port):
    s = config.load(write_config(tmp_path, outgoing_url=url))
    assert (s.outgoing.scheme, s.outgoing.port) == (scheme, port)


@pytest.mark.parametrize("where, url, message", [
    ("mailbox", "imap://u:hunter2@mail.example/INBOX", "must not contain a password"),
    ("mailbox", "pop3://mail.example", "unsupported scheme"),
    ("mailbox", "imap:///INBOX", "missing host"),
    ("mailbox", "maildir:", "needs a path"),
    ("outgoing", "smtp://relay.example:port", "port is not a number"),
    ("outgoing", "dir:", "needs a path"),
])
def test_bad_urls_name_the_key(tmp_path, where, url, message):
    kw = {"mailbox_url": url} if where == "mailbox" else {"outgoing_url": url}
    with pytest.raises(ConfigError) as info:
        config.load(write_config(tmp_path, **kw))
    assert info.value.key == f"{where}.url" and message in str(info.value)
    assert "hunter2" not in str(info.value)


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    path = write_config(tmp_path, replace={'done_action = "none"': 'done_action = "move"'})
    text = path.read_text().replace(f'path = "{tmp_path}/db.sqlite"', 'path = "state/db.sqlite"')
    path.write_text(text)
    assert config.load(path).database_path == tmp_path / "state" / "db.sqlite"


def test_missing_template_override_dir_is_an_error(tmp_path):
    path = write_config(tmp_path, replace={'# dir = "my-templates"': 'dir = "no-such-dir"'})
    with pytest.raises(ConfigError, match="templates.dir"):
        config.load(path)


def test_bad_ladder_step_is_named(tmp_path):
    path = write_config(tmp_path, replace={'high = ["restrict:30", "ban"]': 'high = ["restrict:30", "suspend"]'})
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert info.value.key == "policy.ladder.high[1]"


def test_bad_regex_is_named(tmp_path):
    path = write_config(tmp_path, replace={"handle_pattern = '": "handle_pattern = '(unclosed"})
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert info.value.key == "accounts.handle_pattern"


def test_password_from_env_then_file(tmp_path, monkeypatch):
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    path = write_config(tmp_path, mailbox_url="imap://u@mail.example/INBOX",
                        replace={'# password_file = "/etc/abuse-intake/imap-password"': f'password_file = "{secret}"'})
    s = config.load(path)
    monkeypatch.delenv("ABUSE_INTAKE_IMAP_PASSWORD", raising=False)
    assert s.mailbox.password() == "from-file"
    monkeypatch.setenv("ABUSE_INTAKE_IMAP_PASSWORD", "from-env")
    assert s.mailbox.password() == "from-env"


def test_config_path_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("ABUSE_INTAKE_CONFIG", raising=False)
    assert config.find_config_path(None).name == "config.toml"
    monkeypatch.setenv("ABUSE_INTAKE_CONFIG", str(tmp_path / "x.toml"))
    assert config.find_config_path(None) == tmp_path / "x.toml"
    assert config.find_config_path("given.toml").name == "given.toml"
