"""The driver: every loop that moves mail, and the plumbing those loops use.

process.py        one message: prepare (parse, no db) + Processor (classify, store)
poll.py           a poll over a source, and `run` (lock, poll, deliver, enforce)
replay.py         a quarantined message again
smtp_listener.py  mail pushed by an MTA over SMTP
prefetch.py       an IMAP backlog fetched ahead by a child process
workers.py        parsing on the other cores during a backlog
marking.py        marking committed messages done on the source
runlock.py        one run at a time
children.py       what every forked helper does first

Front doors (cli/, a web console) call into here; intake/, parse/, extract/,
cases/, notify/, policy/ and store/ never import flow/.
"""
