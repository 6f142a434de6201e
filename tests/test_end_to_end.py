"""Report in, decision, outcome out: Dovecot -> poll -> decide -> aiosmtpd -> sanctions export."""

from __future__ import annotations

import json

from helpers import cli, cli_json, email


def test_report_to_outcome_and_export(dovecot, smtp_server, tmp_path):
    conf = dovecot.config_toml(tmp_path, outgoing__url=smtp_server.url())
    dovecot.append_many([
        email(sender="siti.rahma@gmail.com", name="Siti Rahma", subject="Laporan open BO",
              body="Halo, akun @dewi_manja88 menawarkan open BO, tarif short time 500rb.",
              message_id="siti-1@mail.gmail.com"),
        email(sender="john.doe@outlook.com", name="John Doe", subject="Escort account",
              body="The user https://obrolan.example/u/dewi_manja88 is advertising escort services with rates.",
              message_id="john-1@outlook.com"),
    ])
    counts = cli_json(conf, "poll")
    assert counts["cases_opened"] == 1 and counts["emails_sent"] == 2
    [case] = cli_json(conf, "cases", "list")
    assert case["reporters"] == 2 and case["category"] == "prostitution"
    acks = {m.message()["To"]: m.message() for m in smtp_server.messages}
    assert f"[{case['ref']}]" in acks["siti.rahma@gmail.com"]["Subject"]
    assert acks["siti.rahma@gmail.com"]["In-Reply-To"] == "<siti-1@mail.gmail.com>"

    decided = cli(conf, "decide", case["ref"], "--violation", "prostitution", "--by", "rani", "--note", "ads in status")
    assert decided.returncode == 0, decided.stderr
    sent = cli_json(conf, "send")
    assert sent["sent"] == 2
    ack_ids = {a["Message-ID"] for a in acks.values()}
    outcomes = [m for m in smtp_server.messages if m.message()["Message-ID"] not in ack_ids]
    assert sorted(m.message()["To"] for m in outcomes) == ["john.doe@outlook.com", "siti.rahma@gmail.com"]
    for m in outcomes:
        msg = m.message()
        body = "".join(part.get_content() for part in msg.walk() if part.get_content_maintype() == "text")
        assert case["ref"] in body
        # an outcome never names who reported
        other = "john.doe" if m.message()["To"].startswith("siti") else "siti.rahma"
        assert other not in body
        assert m.message()["Auto-Submitted"] == "auto-replied"

    account = cli_json(conf, "accounts", "show", "dewi_manja88")
    assert account["status"] == "restricted"
    [sanction] = account["sanctions"]
    assert sanction["action"] == "restrict" and sanction["case_ref"] == case["ref"]

    export = cli(conf, "sanctions", "export")
    assert export.returncode == 0, export.stderr
    [line] = export.stdout.strip().splitlines()
    record = json.loads(line)
    assert record["account_id"] == "dewi_manja88" and record["action"] == "restrict"
    assert record["case_ref"] == case["ref"] and record["category"] == "prostitution"
    assert "siti" not in line and "john" not in line
    # a second report about the account after the decision opens a new case
    dovecot.append(email(sender="ani.lestari@gmail.com", body="akun @dewi_manja88 masih open BO"))
    assert cli_json(conf, "poll")["cases_opened"] == 1
