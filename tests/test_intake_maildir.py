"""The Maildir source: arrival order, batches, and each done_action."""

from __future__ import annotations

from abuse_intake.config import MailboxSettings
from abuse_intake.models import START
from abuse_intake.intake.maildir import MaildirSource
from helpers import email, make_maildir


def _source(root, **kw):
    return MaildirSource(MailboxSettings(scheme="maildir", path=root, batch_size=2, **kw))


def test_batches_in_arrival_order_and_limit(tmp_path):
    mails = [email(body=f"akun @pelaku_{i:03d}") for i in range(5)]
    root = make_maildir(tmp_path / "mb", mails)
    with _source(root) as src:
        batches = list(src.fetch_new(START, None))
        assert [len(b) for b in batches] == [2, 2, 1]
        assert [r.data for b in batches for r in b] == mails
        assert sum(len(b) for b in src.fetch_new(START, 3)) == 3


def test_move_and_flag_take_messages_out_of_the_next_listing(tmp_path):
    for action in ("move", "flag"):
        root = make_maildir(tmp_path / action, [email(), email()])
        with _source(root, done_action=action) as src:
            [batch] = list(src.fetch_new(START, None))
            src.mark_done([r.source for r in batch])
            assert list(src.fetch_new(START, None)) == []
        if action == "move":
            assert len(list((root / ".Processed" / "cur").iterdir())) == 2


def test_none_leaves_the_folder_as_it_is(tmp_path):
    root = make_maildir(tmp_path / "mb", [email(), email()])
    before = sorted(p.name for p in (root / "new").iterdir())
    with _source(root, done_action="none") as src:
        [batch] = list(src.fetch_new(START, None))
        src.mark_done([r.source for r in batch])
        assert len(list(src.fetch_new(START, None))[0]) == 2
    assert sorted(p.name for p in (root / "new").iterdir()) == before


def test_not_a_maildir_is_a_configuration_error(tmp_path):
    # Issue 13: waiting (exit 75) never makes a missing folder appear; it is a config error (78).
    import pytest
    from abuse_intake.errors import ConfigError
    with pytest.raises(ConfigError, match="does not exist"):
        with _source(tmp_path / "nothing"):
            pass
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConfigError, match="not a Maildir"):
        with _source(tmp_path / "plain"):
            pass


def test_a_backfill_is_read_ahead_in_order_and_a_bad_file_fails_where_it_is(tmp_path):
    """From READ_AHEAD_MIN messages on, a thread reads the next batches while the
    caller works: same batches, same order, and an unreadable file raises at its
    own batch, after every batch before it was delivered."""
    import pytest

    from abuse_intake.errors import MailboxError
    from abuse_intake.intake import maildir

    n = maildir.READ_AHEAD_MIN + 30
    mails = [email(sender=f"r{i}@gmail.com", body=f"akun @pelaku_{i:04d} open BO") for i in range(n)]
    make_maildir(tmp_path / "mb", mails)
    with MaildirSource(MailboxSettings(scheme="maildir", path=tmp_path / "mb", batch_size=20)) as src:
        got = [m.data for batch in src.fetch_new(START, None) for m in batch]
    assert got == mails

    with MaildirSource(MailboxSettings(scheme="maildir", path=tmp_path / "mb", batch_size=20)) as src:
        batches = src.fetch_new(START, None)
        first = next(batches)
        victim = sorted((tmp_path / "mb" / "new").iterdir())[205]  # in batch 11 of 13
        victim.unlink()
        victim.mkdir()  # a name that can no longer be read as a file, even by root
        delivered = len(first)
        with pytest.raises(MailboxError, match="cannot read"):
            for batch in batches:
                delivered += len(batch)
    assert delivered == 200  # batches 1-10, then the error
