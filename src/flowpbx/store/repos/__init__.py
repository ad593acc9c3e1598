"""Repositories: one module per aggregate, each function taking an `AsyncSession`.

extensions, registrations, trunks, numbers, schedules, audio, flows, voicemail (mailboxes
and messages), history, queues, users (accounts, logins, tokens), outbox (email) and
settings. They never commit: the caller owns the transaction (`Store.transaction()` /
`Store.sessions()`; `config_io.import_config` commits once for the whole document). Rows go
out as the frozen records of `store/records.py`. Upserts are by natural key (extension
number, trunk name, number, mailbox number, schedule name, audio name, flow name, queue
name) and report whether they changed anything, so an import can be idempotent.

`api/` reaches the database only through these functions; the `Store` methods are the
runtime's port (pbx/, services/, the command line), which add the live events and files
that go with some writes.
"""
