"""Composing emails and delivering them over real SMTP (aiosmtpd) and into a Maildir."""

from __future__ import annotations

import mailbox
import shutil
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent.config import ConfigError, Settings, load_settings
from tools.mail import compose, make_message_id
from tools.transports import (
    MaildirTransport,
    PermanentSendError,
    SmtpTransport,
    TransientSendError,
    Transport,
    transport_from_settings,
)

try:  # tests/ is not a package: pytest puts it on sys.path
    from smtp_server import SmtpTestServer, free_port, make_test_certificate
except ImportError:  # pragma: no cover - if tests/ becomes a package
    from tests.smtp_server import SmtpTestServer, free_port, make_test_certificate

BODY = "Sehr geehrte Frau Bäcker,\n\nbitte überweisen Sie 1.234,56 € bis Freitag.\n\nGrüße"
SENT_AT = datetime(2025, 3, 14, 9, 30, tzinfo=timezone(timedelta(hours=1)))


def _message(key: str = "INV-1001.r1", **overrides):
    fields = dict(
        message_id=make_message_id(key, "example.com"),
        from_addr="ar@example.com",
        from_name="Example Supplies Ltd",
        reply_to="replies@example.com",
        to=["Käthe Kunde <ap@customer.example>"],
        subject="Zahlungserinnerung: Rechnung INV-1001 über 1.234,56 €",
        body=BODY,
        date=SENT_AT,
    )
    fields.update(overrides)
    return compose(**fields)


def _fast(server: SmtpTestServer, **kwargs) -> SmtpTransport:
    options = dict(tls="none", timeout=5.0, attempts=3, backoff_initial=0.01, backoff_max=0.02)
    options.update(kwargs)
    return SmtpTransport(server.host, server.port, **options)


@pytest.fixture(autouse=True)
def _no_dunning_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("DUNNING_"):
            monkeypatch.delenv(name)


@pytest.fixture
def smtp_server():
    with SmtpTestServer() as server:
        yield server


@pytest.fixture
def auth_server():
    with SmtpTestServer(user="dunning", password="s3cret-pässword") as server:
        yield server


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command line is needed to make a test certificate")
    return make_test_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def starttls_server(certificate):
    cert, key = certificate
    with SmtpTestServer(tls="starttls", certfile=cert, keyfile=key) as server:
        yield server


@pytest.fixture
def ssl_server(certificate):
    cert, key = certificate
    with SmtpTestServer(tls="ssl", certfile=cert, keyfile=key) as server:
        yield server


# --------------------------------------------------------------------------- compose


def test_make_message_id_is_deterministic_and_well_formed():
    assert make_message_id("INV-1001.r1", "example.com") == "<dunning.INV-1001.r1@example.com>"
    assert make_message_id("a", "x.org") == make_message_id("a", "x.org")
    odd = make_message_id("cust:42 inv/7..x.", "example.com")
    assert odd == "<dunning.cust%3A42%20inv/7%2E%2Ex%2E@example.com>"
    assert make_message_id("a:b", "e.com") != make_message_id("a%3Ab", "e.com")
    with pytest.raises(ValueError):
        make_message_id("k", "")


def test_make_message_id_never_asks_for_the_fqdn(monkeypatch):
    def boom(*args):
        raise AssertionError("getfqdn called")

    monkeypatch.setattr(socket, "getfqdn", boom)
    assert make_message_id("k", "example.com") == "<dunning.k@example.com>"


def test_compose_headers_and_body():
    msg = _message(headers={"Cc": "boss@customer.example", "List-Unsubscribe": "<mailto:u@x>"})
    assert msg["Message-ID"] == "<dunning.INV-1001.r1@example.com>"
    assert msg["From"] == "Example Supplies Ltd <ar@example.com>"
    assert msg["Reply-To"] == "replies@example.com"
    assert msg["Date"] == "Fri, 14 Mar 2025 09:30:00 +0100"
    assert msg["X-Auto-Response-Suppress"] == "DR, RN, NRN"
    assert "Auto-Submitted" not in msg
    assert msg["Cc"] == "boss@customer.example"
    assert msg["List-Unsubscribe"] == "<mailto:u@x>"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content() == BODY + "\n"
    assert msg.as_bytes().isascii()  # quoted-printable: safe through any relay


def test_compose_rejects_naive_dates_and_auto_submitted():
    with pytest.raises(ValueError, match="timezone"):
        _message(date=datetime(2025, 3, 14, 9, 30))
    with pytest.raises(ValueError, match="Auto-Submitted"):
        _message(headers={"Auto-Submitted": "auto-generated"})
    with pytest.raises(ValueError):
        _message(headers={"Message-ID": "<other@x>"})
    with pytest.raises(ValueError):
        _message(to=[])


def test_compose_attachments(tmp_path):
    pdf = tmp_path / "Rechnung_INV-1001.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% fake\n")
    unknown = tmp_path / "data.zzz-unknown"
    unknown.write_bytes(b"\x00\x01")
    msg = _message(attachments=[pdf, unknown])
    assert msg.get_content_type() == "multipart/mixed"
    body, *attachments = msg.iter_parts()
    assert body.get_content() == BODY + "\n"
    assert [a.get_content_type() for a in attachments] == [
        "application/pdf",
        "application/octet-stream",
    ]
    assert attachments[0].get_filename() == "Rechnung_INV-1001.pdf"
    assert attachments[0].get_content() == pdf.read_bytes()


# --------------------------------------------------------------------------- SMTP


def test_smtp_delivers_the_message_intact(smtp_server):
    msg = _message(headers={"Cc": "boss@customer.example"})
    receipt = _fast(smtp_server).send(msg)

    assert receipt.startswith("250 ")
    assert len(smtp_server.messages) == 1
    got = smtp_server.messages[0]
    assert got.mail_from == "ar@example.com"
    assert got.rcpt_tos == ["ap@customer.example", "boss@customer.example"]
    m = got.message
    assert m["Message-ID"] == "<dunning.INV-1001.r1@example.com>"
    assert m["From"] == "Example Supplies Ltd <ar@example.com>"
    assert m["To"] == "Käthe Kunde <ap@customer.example>"
    assert m["Reply-To"] == "replies@example.com"
    assert m["Subject"] == "Zahlungserinnerung: Rechnung INV-1001 über 1.234,56 €"
    assert m["X-Auto-Response-Suppress"] == "DR, RN, NRN"
    assert "Auto-Submitted" not in m
    assert m["Date"] == "Fri, 14 Mar 2025 09:30:00 +0100"
    body = m.get_content()
    assert "€" in body and "ä" in body and "überweisen" in body
    assert body == BODY + "\n"


def test_smtp_bcc_is_delivered_but_not_shown(smtp_server):
    _fast(smtp_server).send(_message(headers={"Bcc": "audit@example.com"}))
    got = smtp_server.messages[0]
    assert got.rcpt_tos == ["ap@customer.example", "audit@example.com"]
    assert "Bcc" not in got.message


@pytest.mark.parametrize("password", ["s3cret", "s3cret-pässword"])  # smtplib: ASCII only
def test_smtp_login(password):
    with SmtpTestServer(user="dunning", password=password) as server:
        transport = _fast(server, user="dunning", password=password)
        assert transport.send(_message()).startswith("250 ")
        assert server.logins == ["dunning"]
        assert server.messages[0].login == "dunning"


def test_smtp_without_login_is_refused_permanently(auth_server):
    with pytest.raises(PermanentSendError, match="530"):
        _fast(auth_server).send(_message())
    assert auth_server.messages == []


def test_smtp_wrong_password_is_permanent(auth_server):
    transport = _fast(auth_server, user="dunning", password="wrong")
    with pytest.raises(PermanentSendError, match="535") as info:
        transport.send(_message())
    assert info.value.code == 535
    assert auth_server.logins == []


def test_smtp_retries_a_451_then_delivers_once(smtp_server):
    smtp_server.fail_next(451, "4.3.0 Try again later")
    receipt = _fast(smtp_server).send(_message())
    assert receipt.startswith("250 2.0.0 Ok: queued")
    assert [a.code for a in smtp_server.data_attempts] == [451, 250]
    assert len(smtp_server.messages) == 1


def test_smtp_550_is_permanent_and_not_retried(smtp_server):
    smtp_server.fail_next(550, "5.1.1 Mailbox unavailable")
    with pytest.raises(PermanentSendError) as info:
        _fast(smtp_server).send(_message())
    assert info.value.code == 550
    assert "550" in str(info.value) and "Mailbox unavailable" in str(info.value)
    assert len(smtp_server.data_attempts) == 1
    assert smtp_server.messages == []


def test_smtp_recipient_refusals(smtp_server):
    smtp_server.fail_next(450, "4.2.0 Mailbox busy", stage="RCPT")
    _fast(smtp_server).send(_message())
    assert len(smtp_server.messages) == 1

    smtp_server.reset()
    smtp_server.fail_next(550, "5.1.1 No such user", stage="RCPT")
    with pytest.raises(PermanentSendError, match="No such user"):
        _fast(smtp_server).send(_message())
    assert smtp_server.data_attempts == []
    assert len([a for a in smtp_server.attempts if a.stage == "RCPT"]) == 1


def test_smtp_sender_refused_4xx_is_retried(smtp_server):
    smtp_server.fail_next(421, "4.7.0 Slow down", stage="MAIL")
    _fast(smtp_server).send(_message())
    assert len(smtp_server.messages) == 1


def test_smtp_gives_up_after_the_attempts(smtp_server):
    smtp_server.fail_next(451, "4.3.0 Try again later", times=5)
    with pytest.raises(TransientSendError, match="3 attempts") as info:
        _fast(smtp_server, attempts=3).send(_message())
    assert info.value.code == 451
    assert "Try again later" in str(info.value)
    assert len(smtp_server.data_attempts) == 3
    assert smtp_server.messages == []


def test_smtp_connection_refused_is_transient():
    transport = SmtpTransport(
        "127.0.0.1", free_port(), tls="none", timeout=2.0, attempts=2, backoff_initial=0.01
    )
    with pytest.raises(TransientSendError, match="2 attempts"):
        transport.send(_message())


def test_smtp_silent_server_times_out_transiently():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never greets
        port = silent.getsockname()[1]
        transport = SmtpTransport(
            "127.0.0.1", port, tls="none", timeout=0.2, attempts=2, backoff_initial=0.01
        )
        with pytest.raises(TransientSendError, match="timed out"):
            transport.send(_message())


def test_smtp_starttls_not_offered_is_permanent(smtp_server):
    with pytest.raises(PermanentSendError, match="STARTTLS"):
        _fast(smtp_server, tls="starttls").send(_message())
    assert smtp_server.attempts == []


# --------------------------------------------------------------------------- SMTP over TLS


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])  # the certificate's two names
def test_smtp_starttls_with_ca_file_delivers_over_tls(starttls_server, certificate, host):
    cert, _ = certificate
    transport = _fast(starttls_server, tls="starttls", ca_file=cert)
    transport.host = host
    assert transport.send(_message()).startswith("250 ")
    assert len(starttls_server.messages) == 1
    got = starttls_server.messages[0]
    assert got.tls is not None and got.tls.startswith("TLSv1.")
    assert got.message["Message-ID"] == "<dunning.INV-1001.r1@example.com>"
    assert got.message.get_content() == BODY + "\n"


def test_smtp_starttls_server_refuses_plain_text(starttls_server):
    """The server really insists on TLS, so the delivery above did go encrypted."""
    with pytest.raises(PermanentSendError, match="530") as info:
        _fast(starttls_server, tls="none").send(_message())
    assert info.value.code == 530
    assert "STARTTLS" in str(info.value)
    assert starttls_server.attempts == []  # refused before MAIL FROM reached the handler
    assert starttls_server.messages == []


def test_smtp_implicit_ssl_with_ca_file_delivers(ssl_server, certificate):
    cert, _ = certificate
    receipt = _fast(ssl_server, tls="ssl", ca_file=cert).send(_message())
    assert receipt.startswith("250 ")
    assert len(ssl_server.messages) == 1
    assert ssl_server.messages[0].tls is not None


def test_smtp_implicit_ssl_server_does_not_speak_plain_text(ssl_server, certificate):
    # STARTTLS against an implicit-TLS port: the server never sends a plain-text greeting.
    transport = _fast(ssl_server, tls="starttls", ca_file=certificate[0], timeout=0.2, attempts=1)
    with pytest.raises(TransientSendError):
        transport.send(_message())
    assert ssl_server.messages == []


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_smtp_self_signed_certificate_is_refused_without_ca_file(
    starttls_server, ssl_server, tls, monkeypatch
):
    server = starttls_server if tls == "starttls" else ssl_server
    calls = []
    attempt = SmtpTransport._attempt

    def counted(self, *args):
        calls.append(args)
        return attempt(self, *args)

    monkeypatch.setattr(SmtpTransport, "_attempt", counted)
    with pytest.raises(PermanentSendError) as info:
        _fast(server, tls=tls).send(_message())  # trusts only the system's CAs
    text = str(info.value)
    assert "TLS certificate rejected" in text
    assert "CERTIFICATE_VERIFY_FAILED" in text and "self-signed certificate" in text
    assert info.value.code is None
    assert len(calls) == 1  # not retried
    assert server.attempts == [] and server.messages == []


def test_smtp_certificate_of_another_ca_is_refused(starttls_server, tmp_path):
    other_cert, _ = make_test_certificate(tmp_path / "other")
    with pytest.raises(PermanentSendError, match="CERTIFICATE_VERIFY_FAILED"):
        _fast(starttls_server, tls="starttls", ca_file=other_cert).send(_message())
    assert starttls_server.messages == []


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_smtp_tls_login(certificate, tls):
    cert, key = certificate
    with SmtpTestServer(
        tls=tls, certfile=cert, keyfile=key, user="dunning", password="s3cret"
    ) as server:
        transport = _fast(server, tls=tls, ca_file=cert, user="dunning", password="s3cret")
        assert transport.send(_message()).startswith("250 ")
        assert server.logins == ["dunning"]
        got = server.messages[0]
        assert got.login == "dunning" and got.tls is not None


def test_smtp_ca_file_must_exist(tmp_path):
    with pytest.raises(ValueError, match="missing.pem"):
        SmtpTransport("127.0.0.1", 25, ca_file=tmp_path / "missing.pem")


def test_smtp_unusable_ca_file_is_permanent(starttls_server, tmp_path):
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    transport = _fast(starttls_server, tls="starttls", ca_file=bogus)
    with pytest.raises(PermanentSendError, match="bogus.pem"):
        transport.send(_message())
    assert starttls_server.attempts == []


# --------------------------------------------------------------------------- Maildir


def test_maildir_writes_into_new(tmp_path):
    outbox = tmp_path / "outbox"
    transport = MaildirTransport(outbox)
    assert all((outbox / sub).is_dir() for sub in ("cur", "new", "tmp"))

    path = Path(transport.send(_message()))
    assert path.parent == outbox / "new"
    assert list((outbox / "tmp").iterdir()) == []

    box = mailbox.Maildir(outbox, create=False)
    stored = list(box)
    assert len(stored) == 1
    assert stored[0]["Message-ID"] == "<dunning.INV-1001.r1@example.com>"
    assert "1.234,56 €" in path.read_bytes().decode("ascii").replace("=E2=82=AC", "€")


def test_maildir_same_message_twice_is_one_file(tmp_path):
    transport = MaildirTransport(tmp_path)
    first = transport.send(_message())
    second = transport.send(_message())
    assert first == second
    assert len(list((tmp_path / "new").iterdir())) == 1
    transport.send(_message("INV-1002.r1"))
    assert len(mailbox.Maildir(tmp_path, create=False)) == 2


def test_maildir_leaves_a_message_already_read(tmp_path):
    transport = MaildirTransport(tmp_path)
    path = Path(transport.send(_message()))
    read = tmp_path / "cur" / f"{path.name}:2,S"
    path.rename(read)
    assert transport.send(_message()) == str(read)
    assert list((tmp_path / "new").iterdir()) == []


def test_maildir_file_name_is_safe(tmp_path):
    msg = _message(message_id="<a/b:c@example.com>")
    path = Path(MaildirTransport(tmp_path).send(msg))
    assert path.parent == tmp_path / "new"
    assert "/" not in path.name and ":" not in path.name


# --------------------------------------------------------------------------- settings


def test_transport_from_settings(tmp_path):
    maildir = transport_from_settings(Settings(outbox_dir=tmp_path / "out"))
    assert isinstance(maildir, MaildirTransport)
    assert maildir.directory == tmp_path / "out"

    smtp = transport_from_settings(
        Settings(
            smtp_host="mail.example.com",
            smtp_port=465,
            smtp_user="u",
            smtp_password="pw",
            smtp_tls="ssl",
            smtp_timeout=7.5,
            smtp_retries=2,
            outbox_dir=tmp_path / "out",
        )
    )
    assert isinstance(smtp, SmtpTransport)
    assert (smtp.host, smtp.port, smtp.user, smtp.tls) == ("mail.example.com", 465, "u", "ssl")
    assert (smtp.timeout, smtp.attempts) == (7.5, 2)
    assert smtp._password == "pw"
    assert smtp.ca_file is None
    assert "pw" not in repr(smtp)
    assert isinstance(smtp, Transport) and isinstance(maildir, Transport)


def test_transport_from_settings_delivers(smtp_server):
    settings = Settings(smtp_host=smtp_server.host, smtp_port=smtp_server.port, smtp_tls="none")
    transport_from_settings(settings).send(_message())
    assert len(smtp_server.messages) == 1


def test_settings_smtp_ca_file(tmp_path, monkeypatch, certificate):
    cert, _ = certificate
    monkeypatch.setenv("DUNNING_SMTP_CA_FILE", str(cert))
    settings = load_settings()
    assert settings.smtp_ca_file == cert
    assert settings.shown()["smtp_ca_file"] == str(cert)
    assert Settings.model_fields["smtp_ca_file"].description == (
        "PEM file of CA certificates to trust for the SMTP server (default: the system's)"
    )

    missing = tmp_path / "nowhere" / "ca.pem"
    monkeypatch.setenv("DUNNING_SMTP_CA_FILE", str(missing))
    with pytest.raises(ConfigError, match="DUNNING_SMTP_CA_FILE") as info:
        load_settings()
    assert f"CA file {missing} does not exist" in str(info.value)

    monkeypatch.setenv("DUNNING_SMTP_CA_FILE", str(tmp_path))
    with pytest.raises(ConfigError, match="is not a file"):
        load_settings()

    empty = tmp_path / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv("DUNNING_SMTP_CA_FILE", str(empty))
    with pytest.raises(ConfigError, match="no usable PEM certificate"):
        load_settings()


def test_transport_from_settings_starttls_with_ca_file(starttls_server, certificate):
    cert, _ = certificate
    settings = Settings(
        smtp_host=starttls_server.host,
        smtp_port=starttls_server.port,
        smtp_tls="starttls",
        smtp_ca_file=cert,
        smtp_timeout=5.0,
    )
    transport = transport_from_settings(settings)
    assert isinstance(transport, SmtpTransport) and transport.ca_file == cert
    transport.send(_message())
    assert starttls_server.messages[0].tls is not None
