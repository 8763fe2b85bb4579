"""Reading the AR inbox: ImapInbox against a real Dovecot, and MaildirInbox on disk."""

from __future__ import annotations

import email
import logging
import mailbox
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

from agent.config import load_settings
from tools.inbox import (
    ImapInbox,
    Inbox,
    InboxError,
    InboxLoginError,
    InboxMessage,
    InboxUnavailableError,
    MaildirInbox,
    MemoryCursorStore,
    inbox_from_settings,
)

try:  # tests/ is not a package: pytest puts it on sys.path
    from dovecot_server import DovecotServer

    from smtp_server import free_port
except ImportError:  # pragma: no cover - if tests/ becomes a package
    from tests.dovecot_server import DovecotServer
    from tests.smtp_server import free_port

USER, PASSWORD = "ar", "secret"


def _raw(n: int, *, key: str | None = None, body: str | None = None) -> bytes:
    """A small customer reply, CRLF line ends, 8-bit UTF-8 body (as servers store them)."""
    key = key or f"reply-{n}"
    text = body or f"Hallo, Rechnung INV-{1000 + n} ist bezahlt. Grüße, Käthe\r\n"
    return (
        f"From: Käthe Kunde <ap@customer.example>\r\n"
        f"To: ar@vendor.example\r\n"
        f"Subject: Re: Zahlungserinnerung INV-{1000 + n}\r\n"
        f"Message-ID: <{key}@customer.example>\r\n"
        f"Date: Fri, 14 Mar 2025 09:30:00 +0100\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n"
        f"\r\n"
        f"{text}"
    ).encode()


def _message_id(message: InboxMessage) -> str:
    return str(email.message_from_bytes(message.raw)["Message-ID"])


@pytest.fixture
def imap(dovecot: DovecotServer) -> DovecotServer:
    """The shared Dovecot with user ar's mailbox emptied (tests must not depend on order)."""
    if not dovecot.running:  # a failed restart test must not break the others
        dovecot.start()
    dovecot.reset(USER)
    return dovecot


@pytest.fixture
def make_inbox(imap: DovecotServer) -> Iterator:
    """Build ImapInboxes on the test server (fast retries); all are closed afterwards."""
    made: list[ImapInbox] = []

    def make(**kwargs) -> ImapInbox:
        options = dict(
            user=USER,
            password=PASSWORD,
            tls="none",
            timeout=5.0,
            batch_size=50,
            cursor_store=MemoryCursorStore(),
            attempts=3,
            backoff_initial=0.05,
            backoff_max=0.2,
        )
        options.update(kwargs)
        inbox = ImapInbox(imap.host, imap.port, **options)
        made.append(inbox)
        return inbox

    yield make
    for inbox in made:
        inbox.close()


def _drain(inbox: Inbox, *, done: bool = True) -> list[list[InboxMessage]]:
    batches = []
    for batch in inbox.poll():
        batches.append(batch)
        if done:
            inbox.done(batch)
    return batches


# --------------------------------------------------------------------------- IMAP


def test_poll_delivers_the_messages_unchanged_and_leaves_them_unseen(imap, make_inbox):
    raws = [_raw(n) for n in range(3)]
    uids = imap.append_many(USER, "INBOX", raws)
    store = MemoryCursorStore()
    inbox = make_inbox(cursor_store=store)

    batches = list(inbox.poll())

    assert len(batches) == 1
    validity = imap.uidvalidity(USER)
    assert [m.ref for m in batches[0]] == [f"imap:INBOX:{validity}:{uid}" for uid in uids]
    assert [m.raw for m in batches[0]] == raws  # byte for byte
    assert [m.size for m in batches[0]] == [len(r) for r in raws]
    assert store.cursors == {}  # nothing advances before done()
    flags = imap.flags(USER)
    assert sorted(flags) == uids
    assert not any(b"\\Seen" in f for f in flags.values())

    inbox.done(batches[0])
    assert store.cursors == {f"imap:{USER}@{imap.host}/INBOX": (validity, uids[-1])}
    assert not any(b"\\Seen" in f for f in imap.flags(USER).values())


def test_more_messages_than_the_batch_size_come_in_several_batches_oldest_first(imap, make_inbox):
    uids = imap.append_many(USER, "INBOX", [_raw(n) for n in range(7)])
    inbox = make_inbox(batch_size=3)

    batches = _drain(inbox)

    assert [len(b) for b in batches] == [3, 3, 1]
    refs = [m.ref for b in batches for m in b]
    assert [int(ref.rsplit(":", 1)[1]) for ref in refs] == uids
    assert [_message_id(m) for b in batches for m in b] == [
        f"<reply-{n}@customer.example>" for n in range(7)
    ]


def test_a_poll_after_done_fetches_nothing_over_the_same_connection(imap, make_inbox, monkeypatch):
    imap.append_many(USER, "INBOX", [_raw(n) for n in range(4)])
    inbox = make_inbox(batch_size=2)
    assert sum(len(b) for b in _drain(inbox)) == 4

    fetches: list[object] = []
    real_fetch = IMAPClient.fetch
    monkeypatch.setattr(
        IMAPClient, "fetch", lambda self, *a, **k: fetches.append(a) or real_fetch(self, *a, **k)
    )
    started = time.perf_counter()
    assert list(inbox.poll()) == []
    elapsed = time.perf_counter() - started

    assert fetches == []
    assert inbox.connects == 1
    assert elapsed < 0.1, f"an empty re-poll took {elapsed * 1000:.1f} ms"

    imap.append(USER, "INBOX", _raw(99))  # and the next new one is found
    assert [_message_id(m) for b in _drain(inbox) for m in b] == ["<reply-99@customer.example>"]


def test_a_poll_without_done_delivers_the_same_messages_again(imap, make_inbox):
    imap.append_many(USER, "INBOX", [_raw(n) for n in range(3)])
    store = MemoryCursorStore()
    inbox = make_inbox(cursor_store=store)

    first = [m.ref for b in _drain(inbox, done=False) for m in b]
    again = [m.ref for b in _drain(inbox, done=False) for m in b]
    assert again == first and len(first) == 3

    # a crash between poll and done: a new reader with the same store starts over too
    inbox.close()
    after_crash = make_inbox(cursor_store=store)
    assert [m.ref for b in _drain(after_crash) for m in b] == first
    assert list(after_crash.poll()) == []


def test_a_batch_not_done_holds_the_cursor_even_when_later_batches_are_done(imap, make_inbox):
    imap.append_many(USER, "INBOX", [_raw(n) for n in range(4)])
    store = MemoryCursorStore()
    inbox = make_inbox(batch_size=2, cursor_store=store)

    batches = list(inbox.poll())
    inbox.done(batches[1])  # the first batch failed and was not done
    assert store.cursors == {}

    again = list(inbox.poll())
    assert [m.ref for b in again for m in b] == [m.ref for b in batches for m in b]
    inbox.done(again[0])
    inbox.done(again[1])
    assert list(inbox.poll()) == []


def test_uidvalidity_change_delivers_the_folder_again_and_dedupe_processes_each_once(
    imap, make_inbox, caplog
):
    imap.recreate_folder(USER, "Replies")
    imap.append_many(USER, "Replies", [_raw(1), _raw(2)])
    store = MemoryCursorStore()
    processed: dict[str, str] = {}  # Message-ID -> ref: the caller's dedupe table

    def handle(inbox: ImapInbox) -> list[str]:
        new = []
        for batch in inbox.poll():
            for message in batch:
                message_id = _message_id(message)
                if message_id not in processed:
                    processed[message_id] = message.ref
                    new.append(message_id)
            inbox.done(batch)
        return new

    inbox = make_inbox(folder="Replies", cursor_store=store)
    assert handle(inbox) == ["<reply-1@customer.example>", "<reply-2@customer.example>"]
    old_validity = store.cursors[f"imap:{USER}@{imap.host}/Replies"][0]
    inbox.close()

    new_validity = imap.recreate_folder(USER, "Replies")
    assert new_validity != old_validity
    # the same reply restored into the recreated folder, plus two new ones
    imap.append_many(USER, "Replies", [_raw(2), _raw(3), _raw(4)])

    with caplog.at_level(logging.WARNING, logger="tools.inbox"):
        new = handle(inbox)

    assert new == ["<reply-3@customer.example>", "<reply-4@customer.example>"]
    assert "UIDVALIDITY" in caplog.text
    assert store.cursors[f"imap:{USER}@{imap.host}/Replies"] == (new_validity, 3)
    assert handle(inbox) == []


def test_inbox_uidvalidity_change_is_seen_by_a_connected_reader(imap, make_inbox):
    imap.append_many(USER, "INBOX", [_raw(1)])
    store = MemoryCursorStore()
    inbox = make_inbox(cursor_store=store)
    assert len([m for b in _drain(inbox) for m in b]) == 1

    imap.recreate_folder(USER, "INBOX")  # emptied, new UIDVALIDITY (doveadm)
    imap.append(USER, "INBOX", _raw(2))
    inbox.close()  # a new session sees the new UIDVALIDITY on SELECT

    got = [m for b in _drain(inbox) for m in b]
    assert [_message_id(m) for m in got] == ["<reply-2@customer.example>"]
    assert store.cursors[f"imap:{USER}@{imap.host}/INBOX"][0] == imap.uidvalidity(USER)


def test_a_server_restart_during_a_poll_is_survived_by_reconnecting(imap, make_inbox):
    imap.append_many(USER, "INBOX", [_raw(n) for n in range(6)])
    store = MemoryCursorStore()
    inbox = make_inbox(batch_size=2, cursor_store=store, attempts=8, backoff_max=0.5)

    polling = inbox.poll()
    first = next(polling)
    inbox.done(first)
    imap.stop()  # the server goes away between two batches...
    starter = threading.Timer(0.3, imap.start)  # ...and comes back a little later
    starter.start()
    try:
        rest = list(polling)
    finally:
        starter.join()
    for batch in rest:
        inbox.done(batch)

    got = [_message_id(m) for b in [first, *rest] for m in b]
    assert got == [f"<reply-{n}@customer.example>" for n in range(6)]
    assert inbox.connects == 2
    assert list(inbox.poll()) == []


def test_a_restart_while_idle_wakes_the_waiter_and_the_next_poll_reconnects(imap, make_inbox):
    inbox = make_inbox(attempts=8, backoff_max=0.5)
    assert list(inbox.poll()) == []  # connected, nothing new

    def restart_and_deliver() -> None:
        time.sleep(0.3)
        imap.restart()
        imap.append(USER, "INBOX", _raw(7))

    worker = threading.Thread(target=restart_and_deliver)
    worker.start()
    try:
        assert inbox.wait(30) is True  # the connection drops: "something may be new"
    finally:
        worker.join()
    assert [_message_id(m) for b in _drain(inbox) for m in b] == ["<reply-7@customer.example>"]
    assert inbox.connects == 2


def test_a_server_that_stays_down_raises_unavailable_after_the_attempts():
    port = free_port()
    inbox = ImapInbox(
        "127.0.0.1",
        port,
        user=USER,
        password=PASSWORD,
        tls="none",
        timeout=2.0,
        cursor_store=MemoryCursorStore(),
        attempts=3,
        backoff_initial=0.01,
        backoff_max=0.02,
    )
    with pytest.raises(InboxUnavailableError, match=rf"127\.0\.0\.1:{port}.*after 3 attempts"):
        list(inbox.poll())


def test_a_wrong_password_raises_a_login_error_at_once_without_retrying(
    imap, make_inbox, monkeypatch
):
    attempts = []
    real_connect = ImapInbox.connect
    monkeypatch.setattr(ImapInbox, "connect", lambda self: attempts.append(1) or real_connect(self))
    inbox = make_inbox(password="wrong", attempts=5, backoff_initial=5.0)

    with pytest.raises(InboxLoginError) as caught:
        list(inbox.poll())

    assert len(attempts) == 1
    message = str(caught.value)
    assert f"{imap.host}:{imap.port}" in message and "'ar'" in message
    assert "AUTHENTICATIONFAILED" in message or "Authentication failed" in message


def test_an_oauth2_token_logs_in_with_xoauth2_which_this_server_refuses(
    imap, make_inbox, monkeypatch
):
    calls = []
    real = IMAPClient.oauth2_login
    monkeypatch.setattr(
        IMAPClient,
        "oauth2_login",
        lambda self, user, token, *a, **k: calls.append((user, token)) or real(self, user, token),
    )
    inbox = make_inbox(password=None, oauth2_token="ya29.token", attempts=5)

    with pytest.raises(InboxLoginError, match="'ar' refused"):
        list(inbox.poll())
    assert calls == [(USER, "ya29.token")]  # once: a refused login is not retried


@pytest.mark.parametrize("with_move", [True, False], ids=["MOVE", "COPY+EXPUNGE"])
def test_done_moves_the_messages_to_the_processed_folder(imap, make_inbox, monkeypatch, with_move):
    raws = [_raw(n) for n in range(3)]
    imap.append_many(USER, "INBOX", raws)
    if not with_move:
        real = IMAPClient.has_capability
        monkeypatch.setattr(
            IMAPClient,
            "has_capability",
            lambda self, capability: capability.upper() != "MOVE" and real(self, capability),
        )
    inbox = make_inbox(processed_folder="Processed", batch_size=2)  # created on connect

    batches = list(inbox.poll())
    # meanwhile a person marks another, newer message \Deleted: done() must not expunge it
    other = imap.append(USER, "INBOX", _raw(9), flags=[b"\\Deleted"])
    for batch in batches:
        inbox.done(batch)

    assert imap.uids(USER, "INBOX") == [other]
    with imap.client(USER) as client:
        client.select_folder("Processed", readonly=True)
        moved = client.fetch(client.search("ALL"), ["BODY.PEEK[]", "FLAGS"])
    assert sorted(data[b"BODY[]"] for data in moved.values()) == sorted(raws)
    assert not any(b"\\Seen" in data[b"FLAGS"] for data in moved.values())
    assert [_message_id(m) for b in _drain(inbox) for m in b] == ["<reply-9@customer.example>"]
    assert imap.uids(USER, "INBOX") == []


def test_idle_wait_returns_true_when_a_message_arrives_over_another_connection(imap, make_inbox):
    inbox = make_inbox()
    assert list(inbox.poll()) == []
    timer = threading.Timer(0.3, imap.append, args=(USER, "INBOX", _raw(5)))
    timer.start()
    started = time.monotonic()
    try:
        assert inbox.wait(20) is True
    finally:
        timer.join()
    assert time.monotonic() - started < 5
    assert [_message_id(m) for b in _drain(inbox) for m in b] == ["<reply-5@customer.example>"]


def test_idle_wait_renews_and_returns_false_when_nothing_comes(imap, make_inbox):
    inbox = make_inbox(idle_renew=0.4)
    assert list(inbox.poll()) == []
    started = time.monotonic()
    assert inbox.wait(1.0) is False  # two renewals and a bit
    assert 0.9 < time.monotonic() - started < 3
    assert inbox.connects == 1
    assert list(inbox.poll()) == []  # the connection is still good after IDLE


def test_wait_without_idle_sleeps_up_to_the_poll_interval(imap, make_inbox, monkeypatch):
    real = IMAPClient.has_capability
    monkeypatch.setattr(
        IMAPClient,
        "has_capability",
        lambda self, capability: capability.upper() != "IDLE" and real(self, capability),
    )
    inbox = make_inbox(poll_seconds=0.3)
    assert list(inbox.poll()) == []
    started = time.monotonic()
    assert inbox.wait(10) is False
    assert 0.25 < time.monotonic() - started < 2


def test_fetch_throughput_and_empty_repoll_time(imap, make_inbox, capsys):
    count = 1000
    imap.append_many(USER, "INBOX", [_raw(n, key=f"bulk-{n}") for n in range(count)])
    inbox = make_inbox(batch_size=200)

    started = time.perf_counter()
    delivered = sum(len(batch) for batch in _drain(inbox))
    elapsed = time.perf_counter() - started
    empty = []
    for _ in range(20):
        t0 = time.perf_counter()
        assert list(inbox.poll()) == []
        empty.append(time.perf_counter() - t0)

    assert delivered == count
    rate = count / elapsed
    with capsys.disabled():
        print(
            f"\n[inbox] IMAP poll+done of {count} small messages: {elapsed:.3f} s "
            f"({rate:.0f}/s); empty re-poll median {sorted(empty)[10] * 1000:.2f} ms, "
            f"max {max(empty) * 1000:.2f} ms"
        )
    assert rate > 300
    assert max(empty) < 0.1


def test_from_settings_and_inbox_from_settings(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("DUNNING_"):
            monkeypatch.delenv(name)
    imap_settings = load_settings(
        imap_host="imap.example.com",
        imap_user="ar@example.com",
        imap_password="pw",
        imap_processed_folder="Done",
        imap_batch=25,
        imap_timeout=12,
        imap_poll_seconds=30,
    )
    store = MemoryCursorStore()
    inbox = inbox_from_settings(imap_settings, store)
    assert isinstance(inbox, ImapInbox)  # nothing connects before the first poll
    assert (inbox.host, inbox.port, inbox.tls, inbox.user) == (
        "imap.example.com",
        993,
        "ssl",
        "ar@example.com",
    )
    assert (inbox.folder, inbox.processed_folder, inbox.batch_size) == ("INBOX", "Done", 25)
    assert (inbox.timeout, inbox.poll_seconds, inbox.cursor_store) == (12, 30, store)
    assert inbox.cursor_key == "imap:ar@example.com@imap.example.com/INBOX"

    with pytest.raises(InboxError, match="DUNNING_IMAP_USER"):
        inbox_from_settings(load_settings(imap_host="imap.example.com"), store)
    with pytest.raises(InboxError, match="DUNNING_IMAP_PASSWORD"):
        inbox_from_settings(load_settings(imap_host="imap.example.com", imap_user="u"), store)

    maildir_settings = load_settings(inbox_dir=tmp_path / "inbox")
    maildir = inbox_from_settings(maildir_settings, store)
    assert isinstance(maildir, MaildirInbox) and isinstance(maildir, Inbox)
    assert (tmp_path / "inbox" / "new").is_dir()


# --------------------------------------------------------------------------- Maildir


def _deliver(path: Path, raws: list[bytes]) -> list[str]:
    box = mailbox.Maildir(path, create=True)
    keys = []
    for raw in raws:
        keys.append(box.add(mailbox.MaildirMessage(raw)))
        time.sleep(0.002)  # distinct mtimes: the order is the arrival order
    return keys


def test_maildir_new_poll_done_and_an_empty_repoll(tmp_path):
    path = tmp_path / "inbox"
    inbox = MaildirInbox(path, batch_size=2)  # creates the Maildir
    assert list(inbox.poll()) == []
    raws = [_raw(n).replace(b"\r\n", b"\n") for n in range(5)]
    keys = _deliver(path, raws)

    batches = list(inbox.poll())
    assert [len(b) for b in batches] == [2, 2, 1]
    got = [m for b in batches for m in b]
    assert [m.ref for m in got] == [f"maildir:{key}" for key in keys]
    assert [m.raw for m in got] == raws and [m.size for m in got] == [len(r) for r in raws]

    for batch in batches:
        inbox.done(batch)
    assert list(inbox.poll()) == []
    assert os.listdir(path / "new") == []
    assert sorted(os.listdir(path / "cur")) == sorted(f"{key}:2," for key in keys)
    box = mailbox.Maildir(path, create=False)
    assert all("S" not in box.get_message(key).get_flags() for key in keys)  # not Seen


def test_maildir_poll_without_done_delivers_again(tmp_path):
    path = tmp_path / "inbox"
    inbox = MaildirInbox(path)
    _deliver(path, [_raw(1), _raw(2)])

    first = [m.ref for b in inbox.poll() for m in b]
    assert [m.ref for b in inbox.poll() for m in b] == first
    inbox.done([m for b in inbox.poll() for m in b])
    assert list(inbox.poll()) == []


def test_maildir_wait_sees_a_new_file_and_times_out_otherwise(tmp_path):
    path = tmp_path / "inbox"
    inbox = MaildirInbox(path, check_interval=0.05)
    started = time.monotonic()
    assert inbox.wait(0.3) is False
    assert time.monotonic() - started >= 0.3

    timer = threading.Timer(0.2, _deliver, args=(path, [_raw(1)]))
    timer.start()
    try:
        assert inbox.wait(10) is True
    finally:
        timer.join()
    batch = next(inbox.poll())
    assert inbox.wait(0.1) is False  # delivered, not done: not "new" again
    inbox.done(batch)
