"""The demo's customers who answer: a small, documented stand-in for the simulator.

After a chase message goes out, some sample customers answer it the next day by
writing a real email into the demo's local Maildir inbox, replying in the thread of
the message they got (``In-Reply-To``, the signed ``Reply-To`` address, the quoted
reminder underneath), exactly as a mail client would. Who answers, and how, is fixed
by the order in which accounts first get a message (``CYCLE``), so a re-run tells the
same story:

- ``promiser``: promises to pay in a few days and keeps three promises in five (the
  payment arrives on the promised day); a broken promise lets the chase resume;
- ``disputer``: contests the amount (the chase stops and a person takes over);
- ``asker``: asks for a copy of the invoice (answered automatically);
- ``away``: an out-of-office with a return date (the chase waits for it);
- ``claimer``: says it has paid; the payment arrives two days later half the time;
- ``bounced``: the contact's mailbox no longer exists (a delivery-status report).

Everyone else stays silent, and pays (or not) as ``agent.demo`` decides.
"""

from __future__ import annotations

import mailbox
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from sqlmodel import Session, select

from tools.tables import Account, Contact, Message

CYCLE: tuple[str | None, ...] = (
    "promiser",
    None,
    "asker",
    "disputer",
    None,
    "away",
    "promiser",
    "claimer",
    None,
    "bounced",
    "promiser",
    None,
    "claimer",
)
"""The personas, in the order accounts first receive a chase message (``None``: a
customer who never answers); the demo's story shows each of them early."""


@dataclass
class Replies:
    """The demo customers' side of the conversation."""

    inbox_dir: Path
    rng: random.Random
    due_payments: dict[date, list[str]] = field(default_factory=dict)
    """Invoice numbers the customers will pay on a day (kept promises, true claims)."""
    promises: int = 0
    personas: dict[str, str | None] = field(default_factory=dict)
    """Each account's persona, given when it first gets a message."""
    answered: set[str] = field(default_factory=set)
    """Accounts that already answered once (each answers its first message only)."""

    def persona(self, account_id: str) -> str | None:
        if account_id not in self.personas:
            self.personas[account_id] = CYCLE[len(self.personas) % len(CYCLE)]
        return self.personas[account_id]

    def write(self, session: Session, day: date) -> list[str]:
        """Answer the chase messages sent yesterday; returns lines to print."""
        inbox = mailbox.Maildir(self.inbox_dir, create=True)
        lines = []
        yesterday = day - timedelta(days=1)
        sent = session.exec(
            select(Message)
            .where(Message.local_day == yesterday, Message.state == "sent")
            .where(Message.stage != "answer")
            .order_by(Message.account_id)
        ).all()
        for message in sent:
            who = self.persona(message.account_id)
            if who is None or message.account_id in self.answered:
                continue
            account = session.get(Account, message.account_id)
            contact = session.exec(
                select(Contact).where(Contact.account_id == message.account_id)
            ).first()
            if account is None or contact is None:
                continue
            raw, line = self._compose(who, message, account, contact.email, day)
            inbox.add(raw)
            self.answered.add(message.account_id)
            lines.append(f"{message.account_id} ({who}) {line}")
        return lines

    def _compose(
        self, who: str, message: Message, account: Account, address: str, day: date
    ) -> tuple[bytes, str]:
        sent_at = datetime.combine(day, time(9, 15), tzinfo=UTC)
        numbers = ", ".join(message.invoices)
        email = EmailMessage()
        email["Date"] = format_datetime(sent_at)
        email["Message-ID"] = f"<demo.{message.key[:12]}.{day:%Y%m%d}@{address.split('@')[1]}>"
        email["In-Reply-To"] = message.message_id
        email["References"] = message.message_id
        email["Subject"] = f"Re: {message.subject}"
        email["To"] = "ar@northwind.example"
        email["From"] = f"{account.name} Accounts <{address}>"
        quoted = "\n".join(f"> {line}" for line in message.body.splitlines()[:12])
        intro = f"On {message.local_day:%a, %d %b %Y}, Northwind Supplies Ltd wrote:\n{quoted}"

        if who == "promiser":
            promised = day + timedelta(days=self.rng.randint(2, 6))
            self.promises += 1
            if self.promises % 5 not in (2, 4):  # three promises in five are kept
                self.due_payments.setdefault(promised, []).extend(message.invoices)
                fate = "will keep it"
            else:
                fate = "will not keep it"
            text = (
                f"Hi,\n\nsorry for the delay. We will pay {numbers} on "
                f"{promised:%A %d %B %Y}.\n\nThanks,\nAP team\n"
            )
            line = f"promises to pay on {promised} (and {fate})"
        elif who == "disputer":
            text = (
                f"Hello,\n\nthe amount on {numbers} is wrong: we were quoted a lower price "
                "and half of the goods arrived damaged. Please send a corrected invoice or "
                "a credit note.\n\nRegards\n"
            )
            line = "disputes the amount"
        elif who == "asker":
            text = f"Hi there,\n\ncould you resend a copy of invoice {numbers}? We can't find it.\n"
            line = "asks for a copy of the invoice"
        elif who == "away":
            back = day + timedelta(days=9)
            email.replace_header("Subject", f"Automatic reply: {message.subject}")
            email["Auto-Submitted"] = "auto-replied"
            email["X-Autoreply"] = "yes"
            text = (
                f"I am out of the office with no access to email. I will be back on "
                f"{back:%A %d %B %Y}.\n"
            )
            intro = ""
            line = f"is away until {back} (automatic reply)"
        elif who == "claimer":
            if self.rng.random() < 0.5:
                self.due_payments.setdefault(day + timedelta(days=2), []).extend(message.invoices)
                fate = "the money is on its way"
            else:
                fate = "no money is coming"
            text = f"Hello,\n\nwe already paid {numbers} by bank transfer last week.\n"
            line = f"says it has paid ({fate})"
        else:
            return _bounce(message, address, sent_at), "mailbox no longer exists (bounce)"
        email.set_content(text + ("\n" + intro + "\n" if intro else ""))
        return email.as_bytes(), line


def _bounce(message: Message, address: str, sent_at: datetime) -> bytes:
    return delivery_report(message.message_id, message.subject, address, sent_at, message.key)


def delivery_report(message_id: str, subject: str, address: str, when: datetime, key: str) -> bytes:
    """A Postfix-style delivery-status report (RFC 3464): ``message_id`` to ``address``
    could not be delivered."""
    boundary = f"bounce-{key[:16]}"
    domain = address.split("@")[1]
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.northwind.example>\r\n"
        "To: ar@northwind.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {format_datetime(when)}\r\n"
        f"Message-ID: <bounce.{key[:12]}@mx.northwind.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        f' boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is the mail system at host mx.northwind.example.\r\n\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n\r\n"
        f"<{address}>: host mx.{domain} said: 550 5.1.1 User unknown\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.northwind.example\r\n\r\n"
        f"Final-Recipient: rfc822; {address}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nFrom: ar@northwind.example\r\n"
        f"To: {address}\r\nSubject: {subject}\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def when_paid(replies: Replies, day: date) -> list[str]:
    return replies.due_payments.pop(day, [])
