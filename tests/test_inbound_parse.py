"""tools.inbound_parse: raw received email -> ParsedEmail, on realistic client output."""

from __future__ import annotations

import base64
import random
import textwrap
import time
from datetime import UTC, datetime, timedelta

import pytest

from tools.inbound_parse import (
    Attachment,
    BounceReport,
    MalformedEmail,
    ParsedEmail,
    parse_email,
)


def eml(text: str, encoding: str = "utf-8", **parts: str) -> bytes:
    """A message as it arrives over IMAP: dedented, ``{{name}}`` placeholders filled in
    (after dedenting, so multi-line base64 fits), CRLF line ends, encoded."""
    text = textwrap.dedent(text).lstrip("\n")
    for name, value in parts.items():
        text = text.replace("{{" + name + "}}", value)
    return text.replace("\n", "\r\n").encode(encoding)


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii").rstrip("\n")


# --------------------------------------------------------------------------- human replies

GMAIL_QP_REPLY = eml("""
    Return-Path: <jane.smith@acme-widgets.example>
    Delivered-To: ar+t.9f3a@example.com
    Received: by mail-ej1-f41.google.com with SMTP id a640c23a62f3a-a9a1b2c3d4eso12345666b.1
            for <ar+t.9f3a@example.com>; Tue, 03 Mar 2026 02:41:17 -0800 (PST)
    MIME-Version: 1.0
    References: <dunning.INV-1042.3.c0ffee@example.com>
    In-Reply-To: <dunning.INV-1042.3.c0ffee@example.com>
    From: Jane Smith <Jane.Smith@acme-widgets.example>
    Date: Tue, 3 Mar 2026 11:41:05 +0100
    Message-ID: <CAB4x2mN1Fq=K8sA_1t0wKQ0+Zr@mail.gmail.com>
    Subject: =?UTF-8?Q?Re=3A_FINAL_NOTICE_=E2=80=93_invoice_INV=2D1042?=
    To: Example Corp Accounts Receivable <ar+t.9f3a@example.com>
    Cc: "Payables, Team" <AP@acme-widgets.example>
    Content-Type: multipart/alternative; boundary="000000000000f3b9a2061c7d1e2f"

    --000000000000f3b9a2061c7d1e2f
    Content-Type: text/plain; charset="UTF-8"
    Content-Transfer-Encoding: quoted-printable

    Hi,

    sorry for the delay =E2=80=93 our controller approved it this morning. We =
    will pay INV-1042 (USD 1,250.00) on Friday, March 6.

    Thanks,
    Jane

    On Tue, Mar 3, 2026 at 10:00=E2=80=AFAM Example Corp Accounts Receivable <
    ar+t.9f3a@example.com> wrote:

    > FINAL NOTICE
    >
    > Invoice INV-1042 for USD 1,250.00 is now 30 days overdue. Unless we
    > receive payment within 7 days we will pass the account to collections.
    >
    > Pay online: https://pay.example.com/INV-1042
    >

    --000000000000f3b9a2061c7d1e2f
    Content-Type: text/html; charset="UTF-8"
    Content-Transfer-Encoding: quoted-printable

    <div dir=3D"ltr">Hi,<div><br></div><div>sorry for the delay =E2=80=93 our =
    controller approved it this morning. We will pay INV-1042 on Friday.</div>=
    </div><br><div class=3D"gmail_quote"><div dir=3D"ltr" class=3D"gmail_attr">=
    On Tue, Mar 3, 2026 at 10:00 AM wrote:<br></div><blockquote class=3D"gmail_q=
    uote">FINAL NOTICE</blockquote></div>

    --000000000000f3b9a2061c7d1e2f--
    """)


def test_gmail_quoted_printable_reply_keeps_only_the_new_words() -> None:
    p = parse_email(GMAIL_QP_REPLY)
    assert isinstance(p, ParsedEmail)
    assert p.message_id == "<CAB4x2mN1Fq=K8sA_1t0wKQ0+Zr@mail.gmail.com>"
    assert p.in_reply_to == ("<dunning.INV-1042.3.c0ffee@example.com>",)
    assert p.references == ("<dunning.INV-1042.3.c0ffee@example.com>",)
    assert p.from_addr == "jane.smith@acme-widgets.example"
    assert p.from_name == "Jane Smith"
    assert p.recipients == ("ar+t.9f3a@example.com", "ap@acme-widgets.example")
    assert p.subject == "Re: FINAL NOTICE – invoice INV-1042"
    assert p.date == datetime(2026, 3, 3, 10, 41, 5, tzinfo=UTC)
    assert p.date is not None and p.date.utcoffset() == timedelta(hours=1)
    # text/plain is preferred over the HTML alternative, QP soft breaks joined
    assert "We will pay INV-1042 (USD 1,250.00) on Friday, March 6." in p.text
    assert "> FINAL NOTICE" in p.text
    assert p.new_text == (
        "Hi,\n\nsorry for the delay – our controller approved it this morning. We will pay "
        "INV-1042 (USD 1,250.00) on Friday, March 6."
    )
    assert "FINAL NOTICE" not in p.new_text and "collections" not in p.new_text
    assert p.automatic is None and p.auto_evidence == "" and p.bounce is None
    assert p.attachments == ()
    assert p.defects == ()
    assert p.size == len(GMAIL_QP_REPLY)


OUTLOOK_DE_LATIN1 = eml(
    """
    Received: from EXCH02.kunde-gmbh.example (10.1.2.3) by EXCH01.kunde-gmbh.example
    From: =?iso-8859-1?Q?M=FCller=2C_J=FCrgen?= <J.Mueller@Kunde-GmbH.example>
    To: Example Corp Buchhaltung <ar@example.com>
    Subject: AW: Zahlungserinnerung zur Rechnung INV-2040
    Thread-Topic: Zahlungserinnerung zur Rechnung INV-2040
    Thread-Index: AQHapXx1Y2Vmb3JlbmNl
    Date: Wed, 4 Mar 2026 08:12:44 +0000
    Message-ID: <AM0PR10MB3412C9E1F2A7B8D4A1C2B3D4E5@AM0PR10MB3412.eurprd10.prod.outlook.com>
    References: <dunning.INV-2040.1.beef@example.com>
    In-Reply-To: <dunning.INV-2040.1.beef@example.com>
    Accept-Language: de-DE, en-US
    Content-Language: de-DE
    X-MS-Has-Attach:
    X-MS-TNEF-Correlator:
    MIME-Version: 1.0
    Content-Type: text/plain; charset="iso-8859-1"
    Content-Transfer-Encoding: 8bit

    Sehr geehrte Damen und Herren,

    die Rechnung INV-2040 ist bei uns nicht eingegangen. Bitte senden Sie uns eine
    Kopie an rechnungseingang@kunde-gmbh.example, dann überweisen wir umgehend.

    Mit freundlichen Grüßen
    Jürgen Müller
    Kreditorenbuchhaltung

    Kunde GmbH | Hauptstraße 5 | 80331 München
    Tel. +49 89 1234567

    ________________________________
    Von: Example Corp Buchhaltung <ar@example.com>
    Gesendet: Dienstag, 3. März 2026 10:00
    An: Müller, Jürgen <J.Mueller@Kunde-GmbH.example>
    Betreff: Zahlungserinnerung zur Rechnung INV-2040

    Sehr geehrter Herr Müller,

    LETZTE MAHNUNG: die Rechnung INV-2040 über 3.480,00 EUR ist seit 30 Tagen fällig.
    Wir werden am Freitag zahlen. (zitiert aus einer früheren Nachricht)
    """,
    encoding="iso-8859-1",
)


def test_outlook_german_latin1_von_gesendet_block_and_signature() -> None:
    p = parse_email(OUTLOOK_DE_LATIN1)
    assert p.from_name == "Müller, Jürgen"
    assert p.from_addr == "j.mueller@kunde-gmbh.example"
    assert "überweisen wir umgehend" in p.text  # iso-8859-1 decoded as declared
    assert "LETZTE MAHNUNG" in p.text
    assert p.new_text == (
        "Sehr geehrte Damen und Herren,\n\n"
        "die Rechnung INV-2040 ist bei uns nicht eingegangen. Bitte senden Sie uns eine\n"
        "Kopie an rechnungseingang@kunde-gmbh.example, dann überweisen wir umgehend."
    )
    assert "Wir werden am Freitag zahlen" not in p.new_text
    assert p.automatic is None
    assert p.defects == ()


OUTLOOK_EN_FROM_SENT = eml("""
    From: Tom Baker <tom.baker@northwind.example>
    To: "ar@example.com" <ar@example.com>
    Subject: RE: Reminder: invoice INV-3310 is overdue
    Date: Thu, 5 Mar 2026 16:02:10 -0500
    Message-ID: <BN7PR02MB4011D1C2E3F4A5B6C7D8E9F0A1B2@BN7PR02MB4011.namprd02.prod.outlook.com>
    In-Reply-To: <dunning.INV-3310.2.1234@example.com>
    X-Mailer: Microsoft Outlook 16.0
    Thread-Index: AQJ2b3VzbHkgcXVvdGVk
    Content-Language: en-us
    MIME-Version: 1.0
    Content-Type: text/plain; charset="us-ascii"
    Content-Transfer-Encoding: 7bit

    Hello,

    Can you please send us a copy of INV-3310? We cannot find it in our system.

    Regards,

    Tom Baker
    Accounts Payable | Northwind Traders
    Direct: (555) 010-4477

    -----Original Message-----
    From: Example Corp Accounts Receivable <ar@example.com>
    Sent: Thursday, March 5, 2026 9:00 AM
    To: Tom Baker <tom.baker@northwind.example>
    Subject: Reminder: invoice INV-3310 is overdue

    FINAL NOTICE: invoice INV-3310 is 45 days overdue.

    From: Sarah Lee <sarah.lee@northwind.example>
    Sent: Monday, February 2, 2026 3:15 PM
    To: ar@example.com
    Subject: RE: invoice INV-3310

    We will pay Friday.
    """)


def test_outlook_original_message_block_hides_earlier_promise_and_final_notice() -> None:
    p = parse_email(OUTLOOK_EN_FROM_SENT)
    assert p.new_text == (
        "Hello,\n\nCan you please send us a copy of INV-3310? We cannot find it in our system."
    )
    assert "FINAL NOTICE" not in p.new_text
    assert "We will pay Friday" not in p.new_text
    assert "We will pay Friday" in p.text
    assert p.date == datetime(2026, 3, 5, 21, 2, 10, tzinfo=UTC)
    assert p.recipients == ("ar@example.com",)


OUTLOOK_EN_UNDERSCORE_BLOCK = eml("""
    From: Tom Baker <tom.baker@northwind.example>
    To: ar@example.com
    Subject: RE: Reminder: invoice INV-3310 is overdue
    Date: Thu, 5 Mar 2026 16:02:10 -0500
    Message-ID: <BN7PR02MB4011AAAA@BN7PR02MB4011.namprd02.prod.outlook.com>
    Content-Type: text/plain; charset="us-ascii"

    Payment was released today.

    Get Outlook for iOS<https://aka.ms/o0ukef>
    ________________________________
    From: Example Corp Accounts Receivable <ar@example.com>
    Sent: Thursday, March 5, 2026 9:00:00 AM
    To: Tom Baker <tom.baker@northwind.example>
    Subject: Reminder: invoice INV-3310 is overdue

    FINAL NOTICE: invoice INV-3310 is 45 days overdue.
    """)


def test_outlook_underscore_separator_and_get_outlook_for_ios() -> None:
    p = parse_email(OUTLOOK_EN_UNDERSCORE_BLOCK)
    assert p.new_text == "Payment was released today."


THUNDERBIRD_DE_FLOWED = eml(
    """
    Message-ID: <7f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8@kunde.example>
    Date: Wed, 4 Mar 2026 09:30:12 +0100
    MIME-Version: 1.0
    User-Agent: Mozilla Thunderbird
    Subject: Re: Zahlungserinnerung INV-2051
    Content-Language: de-DE
    To: Example Corp Buchhaltung <ar@example.com>
    References: <dunning.INV-2051.1.aa11@example.com>
    From: Petra Schulz <petra.schulz@kunde.example>
    In-Reply-To: <dunning.INV-2051.1.aa11@example.com>
    Content-Type: text/plain; charset=UTF-8; format=flowed
    Content-Transfer-Encoding: 8bit

    Hallo,

    den Betrag von 1.200,00 EUR haben wir heute überwiesen, die Gutschrift{{soft}}
    sollte morgen bei Ihnen sein.

    Viele Grüße
    Petra Schulz

    Am 03.03.2026 um 10:00 schrieb Example Corp Buchhaltung:
    > Sehr geehrte Frau Schulz,
    >
    > LETZTE MAHNUNG: Rechnung INV-2051 ist überfällig. Wir zahlen am{{soft}}
    > Freitag.
    """,
    soft=" ",  # format=flowed soft line break: a trailing space
)


def test_thunderbird_german_am_schrieb_format_flowed() -> None:
    p = parse_email(THUNDERBIRD_DE_FLOWED)
    assert p.new_text == (
        "Hallo,\n\nden Betrag von 1.200,00 EUR haben wir heute überwiesen, die Gutschrift "
        "sollte morgen bei Ihnen sein."
    )
    # the flowed quote is unwrapped too, and kept in the full text only
    assert "> LETZTE MAHNUNG: Rechnung INV-2051 ist überfällig. Wir zahlen am Freitag." in p.text
    assert "Freitag" not in p.new_text
    assert p.from_name == "Petra Schulz"


APPLE_BODY = (
    "Hello,\n\nwe transferred EUR 980,00 today for INV-2031 — reference 4471.\n\n"
    "Best,\nAnna\n\nSent from my iPhone\n\n"
    "> On 3. Mar 2026, at 10:00, Example Corp Accounts Receivable <ar@example.com> wrote:\n"
    ">\n> Final notice: invoice INV-2031 is 30 days overdue.\n"
)
APPLE_MAIL_BASE64 = eml(
    """
    From: Anna Keller <anna@keller-design.example>
    Content-Type: text/plain; charset=utf-8
    Content-Transfer-Encoding: base64
    Mime-Version: 1.0 (1.0)
    Date: Wed, 4 Mar 2026 07:55:31 +0100
    Subject: Re: Invoice INV-2031
    Message-Id: <4B1E7C2D-9A3F-4E8B-B1C6-2D7F8E9A0B1C@keller-design.example>
    References: <dunning.INV-2031.1.7777@example.com>
    In-Reply-To: <dunning.INV-2031.1.7777@example.com>
    To: ar@example.com
    X-Mailer: iPhone Mail (22D82)

    {{body}}
    """,
    body=b64(APPLE_BODY.encode()),
)


def test_apple_mail_base64_utf8_and_sent_from_my_iphone() -> None:
    p = parse_email(APPLE_MAIL_BASE64)
    assert p.new_text == "Hello,\n\nwe transferred EUR 980,00 today for INV-2031 — reference 4471."
    assert "Final notice" in p.text and "Final notice" not in p.new_text
    assert p.message_id == "<4B1E7C2D-9A3F-4E8B-B1C6-2D7F8E9A0B1C@keller-design.example>"


OUTLOOK_WEB_HTML_ONLY = eml("""
    From: Tom Baker <tom.baker@northwind.example>
    To: Example Corp Accounts Receivable <ar@example.com>
    Subject: Re: FINAL NOTICE: Invoice INV-1042 is 30 days overdue
    Date: Tue, 3 Mar 2026 15:20:01 +0000
    Message-ID: <DM6PR11MB0001HTML@DM6PR11MB0001.namprd11.prod.outlook.com>
    Content-Type: text/html; charset="us-ascii"
    Content-Transfer-Encoding: quoted-printable
    MIME-Version: 1.0

    <html><head>
    <meta http-equiv=3D"Content-Type" content=3D"text/html; charset=3Dus-ascii">
    <style type=3D"text/css" style=3D"display:none;"> P {margin-top:0;margin-bo=
    ttom:0;} </style>
    </head>
    <body dir=3D"ltr">
    <div style=3D"font-family: Calibri, Arial, sans-serif; font-size: 12pt;">Hel=
    lo,</div>
    <div style=3D"font-family: Calibri, Arial, sans-serif; font-size: 12pt;">We =
    have already paid invoice INV-1042 on 2&nbsp;March &amp; attached the remitt=
    ance.</div>
    <div><br></div>
    <div id=3D"Signature"><div>Kind regards,<br>Tom Baker<br>Accounts Payable | N=
    orthwind Traders</div></div>
    <div id=3D"appendonsend"></div>
    <hr style=3D"display:inline-block;width:98%" tabindex=3D"-1">
    <div id=3D"divRplyFwdMsg" dir=3D"ltr"><font face=3D"Calibri, sans-serif" sty=
    le=3D"font-size:11pt"><b>From:</b> Example Corp Accounts Receivable &lt;ar@e=
    xample.com&gt;<br><b>Sent:</b> Tuesday, March 3, 2026 10:00 AM<br><b>To:</b>=
     Tom Baker &lt;tom.baker@northwind.example&gt;<br><b>Subject:</b> FINAL NOT=
    ICE: Invoice INV-1042 is 30 days overdue</font><div>&nbsp;</div></div>
    <div><p>Dear Tom,</p><p>This is a FINAL NOTICE for invoice INV-1042.</p></div>
    </body></html>
    """)


def test_html_only_outlook_web_reply_is_converted_and_quote_dropped() -> None:
    p = parse_email(OUTLOOK_WEB_HTML_ONLY)
    assert p.text.startswith("Hello,\nWe have already paid invoice INV-1042 on 2 March & attached")
    assert "From: Example Corp Accounts Receivable <ar@example.com>" in p.text
    assert "This is a FINAL NOTICE for invoice INV-1042." in p.text
    assert "margin-top" not in p.text and "<div" not in p.text
    assert p.new_text == (
        "Hello,\nWe have already paid invoice INV-1042 on 2 March & attached the remittance."
    )


GMAIL_HTML_ONLY_BLOCKQUOTE = eml("""
    From: Jane Smith <jane.smith@acme-widgets.example>
    To: ar@example.com
    Subject: Re: Reminder INV-1042
    Date: Tue, 3 Mar 2026 11:41:05 +0100
    Message-ID: <CAB4x2mHTML@mail.gmail.com>
    MIME-Version: 1.0
    Content-Type: text/html; charset="UTF-8"

    <div dir="ltr"><div>Hi there,</div><div><br></div><div>we dispute the amount on
    INV-1042: the <b>second line</b> was never delivered.</div><ul><li>Order 77</li>
    <li>Order 78</li></ul><div><br></div><div><div dir="ltr" class="gmail_signature"
    data-smartmail="gmail_signature">Jane Smith | Acme Widgets</div></div></div><br>
    <div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">
    On Tue, Mar 3, 2026 at 10:00 AM Accounts &lt;ar@example.com&gt; wrote:<br></div>
    <blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">FINAL NOTICE<br>
    <blockquote>We will pay Friday.</blockquote></blockquote></div>
    """)


def test_html_only_gmail_quote_and_signature_dropped_from_new_text() -> None:
    p = parse_email(GMAIL_HTML_ONLY_BLOCKQUOTE)
    assert p.new_text == (
        "Hi there,\n\nwe dispute the amount on INV-1042: the second line was never delivered."
        "\n- Order 77\n- Order 78"
    )
    assert "> FINAL NOTICE" in p.text
    assert "> > We will pay Friday." in p.text


def html_reply(html: str) -> bytes:
    return eml(
        """
        From: Piotr Nowak <p.nowak@klient.example>
        To: ar@example.com
        Subject: RE: Invoice INV-8100
        Date: Wed, 4 Mar 2026 10:00:00 +0100
        Message-ID: <html-cut@klient.example>
        MIME-Version: 1.0
        Content-Type: text/html; charset="utf-8"

        {{html}}
        """,
        html=html,
    )


@pytest.mark.parametrize(
    "html",
    [
        # Gmail in Japanese: the attribution is no language the text rules know
        '<div dir="ltr">Paid today.</div><br><div class="gmail_quote"><div dir="ltr" '
        'class="gmail_attr">2026年3月3日(火) 10:00 Accounts &lt;ar@example.com&gt;:<br></div>'
        "<div>FINAL NOTICE for INV-8100</div></div>",
        # Outlook on the web in Polish: the quoted message follows the header div unquoted
        '<div>Paid today.</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg">'
        "<b>Od:</b> Accounts<br><b>Wysłane:</b> wtorek<br><b>Do:</b> Piotr</div>"
        "<div>FINAL NOTICE for INV-8100</div>",
        # Outlook desktop: the header block is a div with a top border
        '<div class="WordSection1"><p class="MsoNormal">Paid today.</p><div><div style="border:'
        'none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm"><p class="MsoNormal">'
        "<b>Od:</b> Accounts</p></div></div><p>FINAL NOTICE for INV-8100</p></div>",
    ],
    ids=["gmail-japanese", "outlook-web-polish", "outlook-desktop-border"],
)
def test_html_quote_containers_are_cut_whatever_the_language(html: str) -> None:
    p = parse_email(html_reply(html))
    assert p.new_text == "Paid today."
    assert "FINAL NOTICE for INV-8100" in p.text


FORWARDED_CHAIN_GMAIL = eml("""
    From: Maria Garcia <maria.garcia@acme-widgets.example>
    Date: Wed, 4 Mar 2026 09:02:33 +0100
    Message-ID: <CAFwd0001@mail.gmail.com>
    Subject: Fwd: FINAL NOTICE - invoice INV-1042
    To: Accounts Payable <ap@acme-widgets.example>
    Cc: ar@example.com
    Content-Type: text/plain; charset="UTF-8"

    Kevin, can you check this? I think we paid it in February.

    Maria

    ---------- Forwarded message ---------
    From: Example Corp Accounts Receivable <ar@example.com>
    Date: Tue, Mar 3, 2026 at 10:00 AM
    Subject: FINAL NOTICE - invoice INV-1042
    To: <maria.garcia@acme-widgets.example>

    FINAL NOTICE
    Invoice INV-1042 is 30 days overdue.
    """)

FORWARDED_CHAIN_GERMAN = eml("""
    From: Klaus Weber <k.weber@kunde.example>
    Date: Wed, 4 Mar 2026 09:02:33 +0100
    Message-ID: <fwd-de-1@kunde.example>
    Subject: WG: Zahlungserinnerung INV-2040
    To: ar@example.com
    Content-Type: text/plain; charset="UTF-8"

    Bitte die Ansprechpartnerin ändern: zuständig ist ab sofort Frau Roth.

    -------- Weitergeleitete Nachricht --------
    Betreff: Zahlungserinnerung INV-2040
    Datum: Tue, 3 Mar 2026 10:00:00 +0100
    Von: Example Corp Buchhaltung <ar@example.com>
    An: k.weber@kunde.example

    LETZTE MAHNUNG für INV-2040.
    """)

FORWARDED_APPLE = eml("""
    From: Anna Keller <anna@keller-design.example>
    Date: Wed, 4 Mar 2026 09:02:33 +0100
    Message-ID: <fwd-apple-1@keller-design.example>
    Subject: Fwd: Invoice INV-2031
    To: ar@example.com
    Content-Type: text/plain; charset="UTF-8"

    FYI - sending this back to you, please use billing@keller-design.example.

    Begin forwarded message:

    From: Example Corp Accounts Receivable <ar@example.com>
    Subject: Invoice INV-2031
    Date: 3 March 2026 at 10:00:00 CET
    To: anna@keller-design.example

    Final notice: invoice INV-2031 is 30 days overdue.
    """)


@pytest.mark.parametrize(
    ("raw", "own_words"),
    [
        (
            FORWARDED_CHAIN_GMAIL,
            "Kevin, can you check this? I think we paid it in February.\n\nMaria",
        ),
        (
            FORWARDED_CHAIN_GERMAN,
            "Bitte die Ansprechpartnerin ändern: zuständig ist ab sofort Frau Roth.",
        ),
        (
            FORWARDED_APPLE,
            "FYI - sending this back to you, please use billing@keller-design.example.",
        ),
    ],
    ids=["gmail-fwd", "thunderbird-wg", "apple-begin-forwarded"],
)
def test_forwarded_chain_keeps_the_forwarders_own_text(raw: bytes, own_words: str) -> None:
    p = parse_email(raw)
    assert p.new_text == own_words
    assert "overdue" not in p.new_text.lower() and "MAHNUNG" not in p.new_text


INLINE_BOTTOM_POST = eml("""
    From: Bob Stone <bob@stone-hardware.example>
    To: ar@example.com
    Subject: Re: Invoice INV-0990
    Date: Wed, 4 Mar 2026 12:00:00 +0000
    Message-ID: <inline-1@stone-hardware.example>
    User-Agent: Mutt/2.2.12 (2023-09-09)
    Content-Type: text/plain; charset=us-ascii

    On Tue, Mar 03, 2026 at 10:00:00AM +0100, Example Corp wrote:
    > FINAL NOTICE: invoice INV-0990 (USD 400.00) is overdue.

    That invoice was for the returned drill, we dispute it.

    > Please pay within 7 days.

    We will pay INV-0991 instead, on Monday.

    --
    Bob Stone, Stone Hardware
    """)


def test_inline_bottom_post_keeps_unquoted_lines_only() -> None:
    p = parse_email(INLINE_BOTTOM_POST)
    assert p.new_text == (
        "That invoice was for the returned drill, we dispute it.\n\n"
        "We will pay INV-0991 instead, on Monday."
    )


def reply_with_body(body: str) -> bytes:
    return (
        eml(
            """
        From: Lena Fischer <lena@fischer-bau.example>
        To: ar@example.com
        Subject: Re: Invoice INV-4000
        Date: Mon, 9 Mar 2026 08:00:00 +0100
        Message-ID: <sig-test@fischer-bau.example>
        Content-Type: text/plain; charset=utf-8

        """
        )
        + body.replace("\n", "\r\n").encode()
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("We paid today.\n\n-- \nLena Fischer\nFischer Bau GmbH\n", "We paid today."),
        (
            "We paid today.\n\nBest regards\nLena Fischer\nFischer Bau GmbH\n"
            "Tel. +49 30 1234567\nwww.fischer-bau.example\n",
            "We paid today.",
        ),
        ("Wir haben heute bezahlt.\n\nViele Grüße\nLena\n", "Wir haben heute bezahlt."),
        (
            "Wir haben heute bezahlt.\n\nMit freundlichen Grüßen\n\nLena Fischer\n",
            "Wir haben heute bezahlt.",
        ),
        ("We paid today.\n\nThanks,\nLena\n", "We paid today."),
        ("Wir zahlen morgen.\n\nVon meinem iPhone gesendet\n", "Wir zahlen morgen."),
        ("We paid today.\nKind regards, Lena Fischer\n", "We paid today."),
        (
            "We paid today.\n\nRegards\nLena\n\nP.S. The remittance is attached.\n",
            "We paid today.\n\nP.S. The remittance is attached.",
        ),
        # not signatures: must survive
        (
            "Hi,\n\nThanks!\nWe will pay tomorrow.\n\nLena\n",
            "Hi,\n\nThanks!\nWe will pay tomorrow.\n\nLena",
        ),
        (
            "Open items:\n- INV-4000 paid on 2 March\n- INV-4001 disputed\n",
            "Open items:\n- INV-4000 paid on 2 March\n- INV-4001 disputed",
        ),
        ("Thanks, we will pay on Friday.\n", "Thanks, we will pay on Friday."),
        ("Regards, we will pay next week\n", "Regards, we will pay next week"),
    ],
)
def test_signature_removal(body: str, expected: str) -> None:
    assert parse_email(reply_with_body(body)).new_text == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (  # French Outlook header block
            "Bonjour,\n\nLe paiement a été effectué hier.\n\nCordialement,\nMarie Dubois\n\n"
            "De : Example Corp <ar@example.com>\nEnvoyé : mardi 3 mars 2026 10:00\n"
            "À : Marie Dubois <marie@client.example>\nObjet : Relance facture INV-5001\n\n"
            "DERNIER RAPPEL\n",
            "Bonjour,\n\nLe paiement a été effectué hier.",
        ),
        (  # Gmail in German, attribution wrapped over two lines
            "Hallo,\nzahlen wir morgen.\n\nAm Di., 3. März 2026 um 10:00 Uhr schrieb "
            "Example Corp <\nar@example.com>:\n\n> LETZTE MAHNUNG\n",
            "Hallo,\nzahlen wir morgen.",
        ),
        (  # Outlook German separator
            "Bitte Rechnung erneut senden.\n\n-----Ursprüngliche Nachricht-----\n"
            "Von: Example Corp <ar@example.com>\nGesendet: Dienstag, 3. März 2026 10:00\n"
            "An: einkauf@kunde.example\nBetreff: Mahnung\n\nLETZTE MAHNUNG\n",
            "Bitte Rechnung erneut senden.",
        ),
        (  # Spanish and Dutch attributions
            "Pagamos mañana.\n\nSaludos,\nAna\n\nEl mar, 3 mar 2026 a las 10:00, Example "
            "(<ar@example.com>) escribió:\n> ÚLTIMO AVISO\n",
            "Pagamos mañana.",
        ),
        (
            "Betaald.\n\nOp di 3 mrt 2026 om 10:00 schreef Example Corp <ar@example.com>:\n"
            "> LAATSTE HERINNERING\n",
            "Betaald.",
        ),
        (  # iPad in German with a quoted attribution
            "Passt.\n\nVon meinem iPad gesendet\n\n> Am 03.03.2026 um 10:00 schrieb X "
            "<ar@example.com>:\n> Mahnung\n",
            "Passt.",
        ),
        (  # "X wrote:" without a date, recognised by the quote under it
            "Yes we pay.\n\nJane Doe wrote:\n> FINAL NOTICE\n> pay now\n",
            "Yes we pay.",
        ),
        ("Mit freundlichen Grüßen / Kind regards\nMax Mustermann\n", ""),
        (  # nothing new at all
            "On Tue, Mar 3, 2026 at 10:00 AM X <ar@example.com> wrote:\n> FINAL NOTICE\n",
            "",
        ),
        # look like headers but are the customer's own words: kept
        (
            "Wir haben überwiesen:\nVon: Konto DE12 3456\nAn: Konto DE98 7654\n"
            "Datum: 12.03.2026\nBetrag: 500 EUR\n",
            "Wir haben überwiesen:\nVon: Konto DE12 3456\nAn: Konto DE98 7654\n"
            "Datum: 12.03.2026\nBetrag: 500 EUR",
        ),
        (
            "On 15.03. we pay 500 EUR, as our CFO wrote:\nthe budget is approved.\n",
            "On 15.03. we pay 500 EUR, as our CFO wrote:\nthe budget is approved.",
        ),
        (  # GroupWise: a ">>> ... >>>" header above a quote without ">" prefixes
            "We will pay on Friday.\n\n>>> Example Corp <ar@example.com> 3/3/2026 10:00 AM >>>\n"
            "FINAL NOTICE\nInvoice INV-4000 is overdue.\n",
            "We will pay on Friday.",
        ),
        (  # "<name> wrote on <date>:" above a bottom-posted answer
            "Example Corp wrote on 3/3/2026 10:00 AM:\n> FINAL NOTICE\n\nPaid yesterday by ACH.\n",
            "Paid yesterday by ACH.",
        ),
    ],
    ids=[
        "fr-outlook",
        "de-gmail-wrapped",
        "de-urspruengliche",
        "es",
        "nl",
        "de-ipad",
        "x-wrote",
        "mfg-slash-kind-regards",
        "only-quote",
        "payment-details-not-a-header",
        "sentence-not-an-attribution",
        "groupwise",
        "wrote-on-date",
    ],
)
def test_quote_headers_across_clients_and_languages(body: str, expected: str) -> None:
    assert parse_email(reply_with_body(body)).new_text == expected


# --------------------------------------------------------------------------- attachments

PDF_BYTES = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + bytes(range(256)) * 5
)
REMITTANCE_OUTLOOK = eml(
    """
    From: Tom Baker <tom.baker@northwind.example>
    To: ar@example.com
    Subject: RE: Invoice INV-1042 - remittance advice
    Date: Tue, 3 Mar 2026 15:20:01 +0000
    Message-ID: <DM6PR11MB0002PDF@DM6PR11MB0002.namprd11.prod.outlook.com>
    Content-Type: multipart/mixed;
        boundary="_004_DM6PR11MB0002PDF_"
    MIME-Version: 1.0

    --_004_DM6PR11MB0002PDF_
    Content-Type: multipart/alternative;
        boundary="_000_DM6PR11MB0002PDF_"

    --_000_DM6PR11MB0002PDF_
    Content-Type: text/plain; charset="us-ascii"
    Content-Transfer-Encoding: quoted-printable

    Hi, the remittance advice for INV-1042 is attached.

    --_000_DM6PR11MB0002PDF_
    Content-Type: text/html; charset="us-ascii"
    Content-Transfer-Encoding: quoted-printable

    <html><body><p>Hi, the remittance advice for INV-1042 is attached.</p></body></html>

    --_000_DM6PR11MB0002PDF_--

    --_004_DM6PR11MB0002PDF_
    Content-Type: application/pdf; name="Remittance_Advice_INV-1042.pdf"
    Content-Description: Remittance_Advice_INV-1042.pdf
    Content-Disposition: attachment; filename="Remittance_Advice_INV-1042.pdf";
        size={{size}}; creation-date="Tue, 03 Mar 2026 15:19:40 GMT"
    Content-Transfer-Encoding: base64

    {{pdf}}

    --_004_DM6PR11MB0002PDF_
    Content-Type: application/pdf
    Content-Disposition: attachment; filename*=utf-8''Zahlungsavis_M%C3%A4rz.pdf
    Content-Transfer-Encoding: base64

    {{tiny}}

    --_004_DM6PR11MB0002PDF_
    Content-Type: image/png; name="image001.png"
    Content-Disposition: inline; filename="image001.png"
    Content-ID: <image001.png@01DC8B2F.1A2B3C40>
    Content-Transfer-Encoding: base64

    iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==

    --_004_DM6PR11MB0002PDF_--
    """,
    size=str(len(PDF_BYTES)),
    pdf=b64(PDF_BYTES),
    tiny=b64(b"%PDF-1.7 tiny"),
)


def test_attachments_are_recorded_by_name_type_and_decoded_size() -> None:
    p = parse_email(REMITTANCE_OUTLOOK)
    assert p.new_text == "Hi, the remittance advice for INV-1042 is attached."
    assert p.attachments == (
        Attachment("Remittance_Advice_INV-1042.pdf", "application/pdf", len(PDF_BYTES)),
        Attachment("Zahlungsavis_März.pdf", "application/pdf", 13),
        Attachment("image001.png", "image/png", 70),
    )
    assert p.automatic is None


ERP_REMITTANCE = eml(
    """
    From: SAP Zahlungsverkehr <noreply@erp.kunde-gmbh.example>
    To: ar@example.com
    Subject: Zahlungsavis 4711 / Payment advice 4711
    Date: Tue, 10 Mar 2026 06:00:00 +0100
    Message-ID: <sap.4711.20260310@erp.kunde-gmbh.example>
    Auto-Submitted: auto-generated
    MIME-Version: 1.0
    Content-Type: multipart/mixed; boundary="SAP_BOUNDARY_4711"

    --SAP_BOUNDARY_4711
    Content-Type: text/plain; charset=utf-8

    Dies ist ein automatisch erzeugtes Zahlungsavis. Wir haben folgende Posten beglichen:
    INV-2040  3.480,00 EUR

    --SAP_BOUNDARY_4711
    Content-Type: application/pdf; name="Zahlungsavis_4711.pdf"
    Content-Disposition: attachment; filename="Zahlungsavis_4711.pdf"
    Content-Transfer-Encoding: base64

    {{pdf}}
    --SAP_BOUNDARY_4711--
    """,
    pdf=b64(PDF_BYTES[:900]),
)


def test_erp_noreply_remittance_is_auto_other_not_absence() -> None:
    p = parse_email(ERP_REMITTANCE)
    assert p.automatic == "auto_other"
    assert p.auto_evidence == "Auto-Submitted: auto-generated"
    assert p.bounce is None
    assert "INV-2040  3.480,00 EUR" in p.new_text
    assert p.attachments == (Attachment("Zahlungsavis_4711.pdf", "application/pdf", 900),)


# --------------------------------------------------------------------------- automatic mail


def auto_reply(headers: str, subject: str, body: str) -> bytes:
    return eml(
        """
        From: Lisa Wong <lisa.wong@contoso-customer.example>
        To: ar@example.com
        Subject: {{subject}}
        Date: Tue, 3 Mar 2026 09:00:05 +0000
        Message-ID: <auto-reply-{{n}}@contoso-customer.example>
        {{headers}}
        Content-Type: text/plain; charset=utf-8

        {{body}}
        """,
        subject=subject,
        n=str(len(headers) + len(subject)),
        headers=headers,
        body=body,
    )


@pytest.mark.parametrize(
    ("headers", "subject", "body", "kind", "evidence"),
    [
        (
            "Auto-Submitted: auto-replied\nX-Auto-Response-Suppress: All\n"
            "X-MS-Exchange-Inbox-Rules-Loop: lisa.wong@contoso-customer.example",
            "Automatic reply: Reminder: invoice INV-1042 is overdue",
            "I am out of the office until 16 March with limited access to email.",
            "out_of_office",
            "Subject: Automatic reply",
        ),
        (
            "X-Auto-Response-Suppress: All\n"
            "X-MS-Exchange-Inbox-Rules-Loop: lisa.wong@contoso-customer.example",
            "Re: Reminder: invoice INV-1042 is overdue",
            "Ich bin bis 16.03. nicht im Büro.",
            "out_of_office",
            "X-Auto-Response-Suppress: All with X-MS-Exchange-Inbox-Rules-Loop",
        ),
        (
            "Auto-Submitted: auto-replied",
            "=?utf-8?q?Automatische_Antwort=3A_Zahlungserinnerung_INV-2040?=",
            "Vielen Dank für Ihre Nachricht. Ich bin ab dem 16.03. wieder erreichbar.",
            "out_of_office",
            "Subject: Automatische Antwort",
        ),
        (
            "Auto-Submitted: auto-replied (vacation)",
            "Abwesenheitsnotiz",
            "Ich bin im Urlaub.",
            "out_of_office",
            "Subject: Abwesenheit",
        ),
        (
            "",
            "=?utf-8?q?R=C3=A9ponse_automatique=C2=A0=3A_Relance_facture_INV-5001?=",
            "Je suis absente du bureau jusqu'au 16 mars.",
            "out_of_office",
            "Subject: Réponse automatique",
        ),
        (
            "X-Autoreply: yes",
            "Re: Reminder: invoice INV-1042 is overdue",
            "Thank you for your email.",
            "out_of_office",
            "X-Autoreply: yes",
        ),
        (
            "Auto-Submitted: auto-replied",
            "Re: Reminder: invoice INV-1042 is overdue",
            "I'm on parental leave and back on 1 June. For invoices contact ap@contoso.example.",
            "out_of_office",
            "Auto-Submitted: auto-replied; text: 'on parental leave'",
        ),
        (
            "Return-Path: <>",
            "Autosvar: Påminnelse faktura INV-6001",
            "Jag är på semester.",
            "out_of_office",
            "Subject: Autosvar; Return-Path: <>",
        ),
        (
            "Auto-Submitted: auto-generated",
            "[Ticket #48213] Reminder: invoice INV-1042 is overdue",
            "Your request has been received and will be handled by our team.",
            "auto_other",
            "Auto-Submitted: auto-generated",
        ),
        (
            "X-Autorespond: Reminder: invoice INV-1042 is overdue",
            "Re: Reminder: invoice INV-1042 is overdue",
            "Thanks for contacting Contoso support. A ticket has been opened.",
            "auto_other",
            "X-Autorespond: Reminder: invoice INV-1042 is overdue",
        ),
        (
            "Precedence: bulk",
            "Contoso customer newsletter March 2026",
            "Our spring catalogue is out.",
            "auto_other",
            "Precedence: bulk",
        ),
        (  # "back on" is an absence only before a day or a date
            "Precedence: bulk",
            "Contoso customer newsletter April 2026",
            "Our lemon tart is back on the menu, and the terrace opens soon.",
            "auto_other",
            "Precedence: bulk",
        ),
        (  # Sieve's vacation extension names itself in the header
            "Auto-Submitted: auto-replied (vacation)",
            "Auto: Reminder: invoice INV-1042 is overdue",
            "Visiting suppliers in Asia, replies will be slow.",
            "out_of_office",
            "Auto-Submitted: auto-replied (vacation)",
        ),
        (
            "Auto-Submitted: auto-replied",
            "Re: Reminder: invoice INV-1042 is overdue",
            "I'm on medical leave for a while and will reply when I can.",
            "out_of_office",
            "Auto-Submitted: auto-replied; text: 'on medical leave'",
        ),
        (
            "Auto-Submitted: auto-replied",
            "Re: Reminder: invoice INV-1042 is overdue",
            "Travelling for work, returning Monday 16 March.",
            "out_of_office",
            "Auto-Submitted: auto-replied; text: 'returning M",
        ),
        (  # a read receipt (MDN) is named by its subject, headers or not
            "",
            "Read: Reminder: invoice INV-1042 is overdue",
            "Your message to lisa.wong@contoso-customer.example was read on 3 March 2026.",
            "auto_other",
            "read receipt",
        ),
    ],
    ids=[
        "exchange-automatic-reply",
        "exchange-rules-loop-headers",
        "german-automatische-antwort",
        "german-abwesenheitsnotiz",
        "french-reponse-automatique",
        "x-autoreply",
        "auto-replied-with-absence-text",
        "swedish-autosvar-null-return-path",
        "ticket-system-auto-generated",
        "x-autorespond-ticket",
        "precedence-bulk",
        "precedence-bulk-back-on-the-menu",
        "sieve-vacation-header",
        "medical-leave-text",
        "returning-weekday-text",
        "read-receipt-subject",
    ],
)
def test_automatic_mail_detection(
    headers: str, subject: str, body: str, kind: str, evidence: str
) -> None:
    p = parse_email(auto_reply(headers, subject, body))
    assert p.automatic == kind
    assert p.auto_evidence.startswith(evidence), p.auto_evidence
    assert p.bounce is None


def test_human_reply_with_leave_words_but_no_automatic_headers_is_not_automatic() -> None:
    p = parse_email(
        auto_reply("", "Re: Reminder: invoice INV-1042 is overdue", "I was on leave, paying now.")
    )
    assert p.automatic is None and p.auto_evidence == ""


# --------------------------------------------------------------------------- bounces

POSTFIX_DSN = eml("""
    Return-Path: <>
    Delivered-To: ar@example.com
    Received: by mail.example.com (Postfix)
        id 4F1A21C0123; Tue,  3 Mar 2026 10:00:07 +0100 (CET)
    Date: Tue,  3 Mar 2026 10:00:07 +0100 (CET)
    From: MAILER-DAEMON@mail.example.com (Mail Delivery System)
    Subject: Undelivered Mail Returned to Sender
    To: ar@example.com
    Auto-Submitted: auto-replied
    MIME-Version: 1.0
    Content-Type: multipart/report; report-type=delivery-status;
        boundary="4F1A21C0123.1772528407/mail.example.com"
    Content-Transfer-Encoding: 8bit
    Message-Id: <20260303090007.4F1A21C0123@mail.example.com>

    This is a MIME-encapsulated message.

    --4F1A21C0123.1772528407/mail.example.com
    Content-Description: Notification
    Content-Type: text/plain; charset=us-ascii

    This is the mail system at host mail.example.com.

    I'm sorry to have to inform you that your message could not
    be delivered to one or more recipients. It's attached below.

    For further assistance, please send mail to postmaster.

                       The mail system

    <j.doe@customer.example>: host mx.customer.example[203.0.113.25] said: 550
        5.1.1 <j.doe@customer.example>: Recipient address rejected: User unknown in
        virtual mailbox table (in reply to RCPT TO command)

    --4F1A21C0123.1772528407/mail.example.com
    Content-Description: Delivery report
    Content-Type: message/delivery-status

    Reporting-MTA: dns; mail.example.com
    X-Postfix-Queue-ID: 4F1A21C0123
    X-Postfix-Sender: rfc822; ar@example.com
    Arrival-Date: Tue,  3 Mar 2026 10:00:05 +0100 (CET)

    Final-Recipient: rfc822; j.doe@customer.example
    Original-Recipient: rfc822;J.Doe@Customer.example
    Action: failed
    Status: 5.1.1
    Remote-MTA: dns; mx.customer.example
    Diagnostic-Code: smtp; 550 5.1.1 <j.doe@customer.example>: Recipient address
        rejected: User unknown in virtual mailbox table

    --4F1A21C0123.1772528407/mail.example.com
    Content-Description: Undelivered Message Headers
    Content-Type: text/rfc822-headers
    Content-Transfer-Encoding: 8bit

    Return-Path: <ar@example.com>
    Received: from app.example.com (app.example.com [192.0.2.10])
        by mail.example.com (Postfix) with ESMTPS id 4F1A21C0123
    From: Example Corp Accounts Receivable <ar@example.com>
    To: j.doe@customer.example
    Subject: Reminder: invoice INV-1042 is overdue
    Message-ID: <dunning.INV-1042.2.a1b2c3@example.com>
    Date: Tue, 03 Mar 2026 10:00:04 +0100

    --4F1A21C0123.1772528407/mail.example.com--
    """)


def test_rfc3464_postfix_dsn() -> None:
    p = parse_email(POSTFIX_DSN)
    assert p.automatic == "bounce"
    assert p.auto_evidence.startswith("Content-Type: multipart/report; report-type=delivery")
    assert p.bounce == BounceReport(
        failed_address="j.doe@customer.example",
        original_message_id="<dunning.INV-1042.2.a1b2c3@example.com>",
        status="5.1.1",
        permanent=True,
        diagnostic=(
            "550 5.1.1 <j.doe@customer.example>: Recipient address rejected: User unknown "
            "in virtual mailbox table"
        ),
        format="rfc3464",
    )
    assert p.attachments == ()  # the report's machine parts are not attachments


POSTFIX_DELAYED_DSN = eml("""
    Return-Path: <>
    Date: Tue,  3 Mar 2026 14:00:09 +0100 (CET)
    From: MAILER-DAEMON@mail.example.com (Mail Delivery System)
    Subject: Delayed Mail (still being retried)
    To: ar@example.com
    Auto-Submitted: auto-replied
    MIME-Version: 1.0
    Content-Type: multipart/report; report-type=delivery-status;
        boundary="B7C2D1C0456.1772542809/mail.example.com"
    Message-Id: <20260303130009.B7C2D1C0456@mail.example.com>

    --B7C2D1C0456.1772542809/mail.example.com
    Content-Description: Notification
    Content-Type: text/plain; charset=us-ascii

    This is the mail system at host mail.example.com.

    ####################################################################
    # THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
    ####################################################################

    Your message could not be delivered for more than 4 hour(s).
    It will be retried until it is 5 day(s) old.

    <ap@slow-customer.example>: connect to mx.slow-customer.example[198.51.100.9]:25:
        Connection timed out

    --B7C2D1C0456.1772542809/mail.example.com
    Content-Description: Delivery report
    Content-Type: message/delivery-status

    Reporting-MTA: dns; mail.example.com
    X-Postfix-Queue-ID: B7C2D1C0456
    Arrival-Date: Tue,  3 Mar 2026 10:00:04 +0100 (CET)

    Final-Recipient: rfc822; ap@slow-customer.example
    Original-Recipient: rfc822;ap@slow-customer.example
    Action: delayed
    Status: 4.4.1
    Diagnostic-Code: X-Postfix; connect to mx.slow-customer.example[198.51.100.9]:25:
        Connection timed out
    Will-Retry-Until: Sun,  8 Mar 2026 10:00:04 +0100 (CET)

    --B7C2D1C0456.1772542809/mail.example.com
    Content-Description: Undelivered Message
    Content-Type: message/rfc822

    Return-Path: <ar@example.com>
    From: Example Corp Accounts Receivable <ar@example.com>
    To: ap@slow-customer.example
    Subject: Reminder: invoice INV-7310 is due
    Message-ID: <dunning.INV-7310.1.d00d@example.com>
    Date: Tue, 03 Mar 2026 10:00:04 +0100
    MIME-Version: 1.0
    Content-Type: text/plain; charset=utf-8

    Dear customer, invoice INV-7310 is due on 10 March.

    --B7C2D1C0456.1772542809/mail.example.com--
    """)


def test_rfc3464_delayed_is_not_permanent() -> None:
    p = parse_email(POSTFIX_DELAYED_DSN)
    assert p.automatic == "bounce"
    assert p.bounce is not None
    assert p.bounce.failed_address == "ap@slow-customer.example"
    assert p.bounce.original_message_id == "<dunning.INV-7310.1.d00d@example.com>"
    assert p.bounce.status == "4.4.1"
    assert p.bounce.permanent is False
    assert p.bounce.format == "rfc3464"
    assert "Connection timed out" in (p.bounce.diagnostic or "")


EXIM_BOUNCE = eml("""
    Return-path: <>
    Envelope-to: ar@example.com
    Delivery-date: Tue, 03 Mar 2026 10:00:09 +0000
    Received: from Debian-exim by mx1.hosting.example with local (Exim 4.96)
        id 1vAbCd-000123-4Z
        for ar@example.com; Tue, 03 Mar 2026 10:00:09 +0000
    X-Failed-Recipients: accounts@defunct-customer.example
    Auto-Submitted: auto-replied
    From: Mail Delivery System <Mailer-Daemon@mx1.hosting.example>
    To: ar@example.com
    Content-Type: text/plain; charset=us-ascii
    Subject: Mail delivery failed: returning message to sender
    Message-Id: <E1vAbCd-000123-4Z@mx1.hosting.example>
    Date: Tue, 03 Mar 2026 10:00:09 +0000

    This message was created automatically by mail delivery software.

    A message that you sent could not be delivered to one or more of its
    recipients. This is a permanent error. The following address(es) failed:

      accounts@defunct-customer.example
        host mx.defunct-customer.example [198.51.100.7]
        SMTP error from remote mail server after RCPT TO:<accounts@defunct-customer.example>:
        550 5.1.1 <accounts@defunct-customer.example>: Recipient address rejected: User unknown

    ------ This is a copy of the message, including all the headers. ------

    Return-path: <ar@example.com>
    Received: from app.example.com ([192.0.2.10]) by mx1.hosting.example with esmtpsa
    Message-ID: <dunning.INV-3001.1.ffee@example.com>
    From: Example Corp Accounts Receivable <ar@example.com>
    To: accounts@defunct-customer.example
    Subject: Invoice INV-3001 is due
    Date: Tue, 03 Mar 2026 10:00:05 +0000

    Dear customer, invoice INV-3001 is due.
    """)


def test_exim_text_bounce() -> None:
    p = parse_email(EXIM_BOUNCE)
    assert p.automatic == "bounce"
    assert p.auto_evidence.startswith("exim delivery failure text")
    b = p.bounce
    assert b is not None
    assert b.format == "exim"
    assert b.failed_address == "accounts@defunct-customer.example"
    assert b.original_message_id == "<dunning.INV-3001.1.ffee@example.com>"
    assert b.status == "5.1.1"
    assert b.permanent is True
    assert b.diagnostic is not None and b.diagnostic.startswith("550 5.1.1 <accounts@")


EXIM_DEFERRED = eml("""
    Return-path: <>
    Auto-Submitted: auto-replied
    From: Mail Delivery System <Mailer-Daemon@mx1.hosting.example>
    To: ar@example.com
    Subject: Warning: message 1vAbCe-000124-5A delayed 24 hours
    Message-Id: <E1vAbZz-000999-1B@mx1.hosting.example>
    Date: Wed, 04 Mar 2026 10:00:09 +0000
    Content-Type: text/plain; charset=us-ascii

    This message was created automatically by mail delivery software.
    A message that you sent has not yet been delivered to one or more of its
    recipients after more than 24 hours on the queue on mx1.hosting.example.

    The message identifier is:     1vAbCe-000124-5A
    The subject of the message is: Invoice INV-3002 is due

    The address to which the message has not yet been delivered is:

      billing@greylisted.example
        host mx.greylisted.example [198.51.100.8]
        Delay reason: SMTP error from remote mail server after RCPT TO:<billing@greylisted.example>:
        451 4.7.1 Please try again later

    No action is required on your part. Delivery attempts will continue for
    some time, and this warning may be repeated at intervals if the message
    remains undelivered. Eventually the mail delivery software will give up,
    and when that happens, the message will be returned to you.
    """)


def test_exim_deferral_is_temporary() -> None:
    p = parse_email(EXIM_DEFERRED)
    assert p.automatic == "bounce"
    b = p.bounce
    assert b is not None and b.format == "exim"
    assert b.failed_address == "billing@greylisted.example"
    assert b.status == "4.7.1"
    assert b.permanent is False


QMAIL_BOUNCE = eml("""
    Return-Path: <>
    Received: (qmail 12345 invoked for bounce); 3 Mar 2026 10:00:11 -0000
    Date: 3 Mar 2026 10:00:11 -0000
    From: MAILER-DAEMON@mail.oldhost.example
    To: ar@example.com
    Subject: failure notice

    Hi. This is the qmail-send program at mail.oldhost.example.
    I'm afraid I wasn't able to deliver your message to the following addresses.
    This is a permanent error; I've given up. Sorry it didn't work out.

    <Billing@OldHost.example>:
    Sorry, no mailbox here by that name. (#5.1.1)

    --- Below this line is a copy of the message.

    Return-Path: <ar@example.com>
    Received: (qmail 12340 invoked from network); 3 Mar 2026 10:00:10 -0000
    Message-ID: <dunning.INV-0815.3.abcd@example.com>
    From: Example Corp Accounts Receivable <ar@example.com>
    To: billing@oldhost.example
    Subject: Final notice: invoice INV-0815

    FINAL NOTICE
    """)


def test_qmail_text_bounce() -> None:
    p = parse_email(QMAIL_BOUNCE)
    assert p.message_id is None and "no Message-ID header" in p.defects
    assert p.date == datetime(2026, 3, 3, 10, 0, 11, tzinfo=UTC)  # -0000 read as UTC
    b = p.bounce
    assert b is not None
    assert b.format == "qmail"
    assert b.failed_address == "billing@oldhost.example"
    assert b.original_message_id == "<dunning.INV-0815.3.abcd@example.com>"
    assert b.status == "5.1.1"
    assert b.permanent is True
    assert p.auto_evidence.endswith("Return-Path: <>; From: mailer-daemon@mail.oldhost.example")


EXCHANGE_NDR_TEXT = eml("""
    From: postmaster@contoso-customer.example
    To: ar@example.com
    Date: Tue, 3 Mar 2026 09:00:12 +0000
    Subject: Undeliverable: Reminder: invoice INV-1042 is overdue
    Message-ID: <b7d1e2f3-a4b5-46c7-88d9-e0f1a2b3c4d5@contoso-customer.example>
    Auto-Submitted: auto-replied
    Content-Language: en-US
    Content-Type: text/plain; charset="us-ascii"

    Delivery has failed to these recipients or groups:

    Lisa Wong (lisa.wong@contoso-customer.example)
    The e-mail address you entered couldn't be found. Please check the recipient's e-mail
    address and try to resend the message. If the problem continues, please contact your
    helpdesk.

    Diagnostic information for administrators:

    Generating server: EXCH01.contoso-customer.example

    lisa.wong@contoso-customer.example
    Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'

    Original message headers:

    Received: from mail.example.com (192.0.2.10) by EXCH01.contoso-customer.example
    From: Example Corp Accounts Receivable <ar@example.com>
    To: Lisa Wong <lisa.wong@contoso-customer.example>
    Subject: Reminder: invoice INV-1042 is overdue
    Date: Tue, 3 Mar 2026 10:00:04 +0100
    Message-ID: <dunning.INV-1042.2.e1e1@example.com>
    MIME-Version: 1.0
    """)


def test_exchange_ndr_text() -> None:
    p = parse_email(EXCHANGE_NDR_TEXT)
    b = p.bounce
    assert b is not None
    assert b.format == "exchange"
    assert b.failed_address == "lisa.wong@contoso-customer.example"
    assert b.original_message_id == "<dunning.INV-1042.2.e1e1@example.com>"
    assert b.status == "5.1.1"
    assert b.permanent is True
    assert b.diagnostic == (
        "Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'"
    )


O365_NDR = eml("""
    From: Microsoft Outlook
     <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso-customer.example>
    To: <ar@example.com>
    Date: Tue, 3 Mar 2026 09:00:12 +0000
    Content-Type: multipart/report; report-type=delivery-status;
        boundary="d8c7b6a5-1111-2222-3333-444455556666"
    X-MS-Exchange-Message-Is-Ndr:
    Content-Language: en-US
    Message-ID: <4f5e6d7c-0000-1111-2222-333344445555@EXCH01.contoso-customer.example>
    In-Reply-To: <dunning.INV-1042.2.f00f@example.com>
    References: <dunning.INV-1042.2.f00f@example.com>
    Subject: Undeliverable: Reminder: invoice INV-1042 is overdue
    MIME-Version: 1.0

    --d8c7b6a5-1111-2222-3333-444455556666
    Content-Type: multipart/alternative;
        boundary="a1a1a1a1-2222-3333-4444-555566667777"

    --a1a1a1a1-2222-3333-4444-555566667777
    Content-Type: text/plain; charset="us-ascii"

    Your message to lisa.wong@contoso-customer.example couldn't be delivered.
    lisa.wong wasn't found at contoso-customer.example.

    --a1a1a1a1-2222-3333-4444-555566667777
    Content-Type: text/html; charset="us-ascii"

    <html><body><p>Your message to <b>lisa.wong@contoso-customer.example</b>
    couldn't be delivered.</p></body></html>

    --a1a1a1a1-2222-3333-4444-555566667777--

    --d8c7b6a5-1111-2222-3333-444455556666
    Content-Type: message/delivery-status

    Reporting-MTA: dns;EXCH01.contoso-customer.example
    Received-From-MTA: dns;mail.example.com
    Arrival-Date: Tue, 3 Mar 2026 09:00:11 +0000

    Final-Recipient: rfc822;lisa.wong@contoso-customer.example
    Action: failed
    Status: 5.1.10
    Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not
     found by SMTP address lookup

    --d8c7b6a5-1111-2222-3333-444455556666
    Content-Type: text/rfc822-headers

    From: Example Corp Accounts Receivable <ar@example.com>
    To: Lisa Wong <lisa.wong@contoso-customer.example>
    Subject: Reminder: invoice INV-1042 is overdue
    Message-ID:
     <dunning.INV-1042.2.f00f@example.com>

    --d8c7b6a5-1111-2222-3333-444455556666--
    """)


def test_office365_ndr_with_delivery_status_part() -> None:
    p = parse_email(O365_NDR)
    assert p.automatic == "bounce"
    assert p.bounce == BounceReport(
        failed_address="lisa.wong@contoso-customer.example",
        original_message_id="<dunning.INV-1042.2.f00f@example.com>",
        status="5.1.10",
        permanent=True,
        diagnostic=(
            "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"
        ),
        format="rfc3464",
    )
    assert p.from_addr == (
        "microsoftexchange329e71ec88ae4615bbc36ab6ce41109e@contoso-customer.example"
    )


GMAIL_DSN = eml("""
    Return-Path: <>
    Received: by 2002:a05:6000:1a8e:b0:38f:1234:5678 with SMTP id f14csp123456wrx;
            Tue, 03 Mar 2026 01:00:12 -0800 (PST)
    From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
    To: ar@example.com
    Auto-Submitted: auto-replied
    Message-ID: <65e4a1b2.050a0220.abcd.0001.GMR@mx.google.com>
    Date: Tue, 03 Mar 2026 01:00:12 -0800 (PST)
    Subject: Delivery Status Notification (Failure)
    References: <dunning.INV-5555.1.9f9f@example.com>
    In-Reply-To: <dunning.INV-5555.1.9f9f@example.com>
    X-Failed-Recipients: old.contact@gmail.com
    MIME-Version: 1.0
    Content-Type: multipart/report; boundary="000000000000a1b2c3d4e5f60718";
     report-type=delivery-status

    --000000000000a1b2c3d4e5f60718
    Content-Type: multipart/related; boundary="000000000000a1c0d4e5f6071829"

    --000000000000a1c0d4e5f6071829
    Content-Type: multipart/alternative; boundary="000000000000a1c4d4e5f607182a"

    --000000000000a1c4d4e5f607182a
    Content-Type: text/plain; charset="UTF-8"


    ** Address not found **

    Your message wasn't delivered to old.contact@gmail.com because the address
    couldn't be found, or is unable to receive mail.

    Learn more here: https://support.google.com/mail/?p=NoSuchUser

    The response was:

    The email account that you tried to reach does not exist.

    --000000000000a1c4d4e5f607182a
    Content-Type: text/html; charset="UTF-8"

    <html><body><h2>Address not found</h2></body></html>

    --000000000000a1c4d4e5f607182a--
    --000000000000a1c0d4e5f6071829
    Content-Type: image/png; name="icon.png"
    Content-Disposition: attachment; filename="icon.png"
    Content-Transfer-Encoding: base64
    Content-ID: <icon.png>

    iVBORw0KGgo=
    --000000000000a1c0d4e5f6071829--
    --000000000000a1b2c3d4e5f60718
    Content-Type: message/delivery-status

    Reporting-MTA: dns; googlemail.com
    Received-From-MTA: dns; mail.example.com
    Arrival-Date: Tue, 03 Mar 2026 01:00:11 -0800 (PST)
    X-Original-Message-ID: <dunning.INV-5555.1.9f9f@example.com>

    Final-Recipient: rfc822; old.contact@gmail.com
    Action: failed
    Status: 5.1.1
    Remote-MTA: dns; gmail-smtp-in.l.google.com. (142.250.102.27, the server for the
     domain gmail.com.)
    Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not exist.
    Last-Attempt-Date: Tue, 03 Mar 2026 01:00:12 -0800 (PST)

    --000000000000a1b2c3d4e5f60718--
    """)


def test_gmail_dsn() -> None:
    p = parse_email(GMAIL_DSN)
    assert p.automatic == "bounce"
    b = p.bounce
    assert b is not None
    assert b.format == "rfc3464"
    assert b.failed_address == "old.contact@gmail.com"
    assert b.original_message_id == "<dunning.INV-5555.1.9f9f@example.com>"
    assert b.status == "5.1.1"
    assert b.permanent is True
    assert "Address not found" in p.text


GMAIL_TEXT_BOUNCE = eml("""
    Return-Path: <>
    From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
    To: ar@example.com
    Date: Tue, 03 Mar 2026 01:00:12 -0800
    Subject: Delivery Status Notification (Failure)
    Message-ID: <0016e6d7e1f2a3b4c5@google.com>
    Content-Type: text/plain; charset=ISO-8859-1

    Delivery to the following recipient failed permanently:

         former.clerk@gmail.com

    Technical details of permanent failure:
    Google tried to deliver your message, but it was rejected by the server for the
    recipient domain gmail.com by gmail-smtp-in.l.google.com. [2607:f8b0:400e:c03::1a].

    The error that the other server returned was:
    550-5.1.1 The email account that you tried to reach does not exist.

    ----- Original message -----

    Message-ID: <dunning.INV-5600.1.abab@example.com>
    From: Example Corp Accounts Receivable <ar@example.com>
    Subject: Reminder: invoice INV-5600
    """)


def test_gmail_text_bounce() -> None:
    b = parse_email(GMAIL_TEXT_BOUNCE).bounce
    assert b is not None
    assert b.format == "gmail"
    assert b.failed_address == "former.clerk@gmail.com"
    assert b.original_message_id == "<dunning.INV-5600.1.abab@example.com>"
    assert b.status == "5.1.1"
    assert b.permanent is True


GENERIC_BOUNCE = eml("""
    From: postmaster@mail.small-isp.example
    To: ar@example.com
    Date: Tue, 03 Mar 2026 10:00:12 +0100
    Subject: Unzustellbar: Rechnung INV-7000
    Message-ID: <ndr-7000@mail.small-isp.example>
    Content-Type: text/plain; charset=utf-8

    Ihre Nachricht konnte nicht zugestellt werden.
    Empfänger: info@kleinbetrieb.example (Postfach voll)

    Original message follows
    Message-ID: <dunning.INV-7000.1.cdcd@example.com>
    """)


def test_generic_daemon_bounce() -> None:
    p = parse_email(GENERIC_BOUNCE)
    assert p.automatic == "bounce"
    b = p.bounce
    assert b is not None
    assert b.format == "generic"
    assert b.failed_address == "info@kleinbetrieb.example"
    assert b.original_message_id == "<dunning.INV-7000.1.cdcd@example.com>"
    assert b.status is None
    assert b.permanent is True  # unknown -> permanent


def test_success_dsn_is_automatic_but_not_a_bounce() -> None:
    raw = POSTFIX_DSN.replace(b"Action: failed", b"Action: delivered").replace(
        b"Status: 5.1.1", b"Status: 2.0.0"
    )
    p = parse_email(raw)
    assert p.bounce is None
    assert p.automatic == "auto_other"


def test_customer_quoting_bounce_phrases_is_not_a_bounce() -> None:
    body = (
        "Hi, your last reminder said 'Delivery has failed to these recipients or groups'"
        " - we never got it. Please resend.\n"
    )
    p = parse_email(reply_with_body(body))
    assert p.bounce is None and p.automatic is None


# --------------------------------------------------------------------------- defects


def test_missing_date_bad_base64_padding_and_invalid_utf8_are_defects_not_errors() -> None:
    body = base64.b64encode(b"Wir zahlen am Freitag.").rstrip(b"=").decode()
    raw = (
        eml(
            """
        From: Lena Fischer <lena@fischer-bau.example>
        To: ar@example.com
        Subject: Re: Invoice INV-4000
        Message-ID: <defects-1@fischer-bau.example>
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="XYZ"

        --XYZ
        Content-Type: text/plain; charset=utf-8
        Content-Transfer-Encoding: base64

        {{body}}
        --XYZ
        Content-Type: text/plain; charset=utf-8
        Content-Disposition: inline

        """,
            body=body,
        )
        + b"Gr\xfc\xdfe aus Berlin\r\n--XYZ--\r\n"
    )
    p = parse_email(raw)
    assert p.date is None
    assert p.text == "Wir zahlen am Freitag.\n\nGr\ufffd\ufffde aus Berlin"
    assert p.defects == (
        "no Date header",
        "InvalidBase64PaddingDefect in text/plain part 1",
        "bytes invalid in charset 'utf-8' in text/plain part 2, replaced",
    )


def test_undeclared_8bit_body_falls_back_to_cp1252() -> None:
    raw = eml("""
        From: Lena Fischer <lena@fischer-bau.example>
        To: ar@example.com
        Subject: Re: Invoice INV-4000
        Date: Mon, 9 Mar 2026 08:00:00 +0100
        Message-ID: <cp1252@fischer-bau.example>

        """) + "Zahlung über 500 € erfolgt – morgen.\r\n".encode("cp1252")
    p = parse_email(raw)
    assert p.text == "Zahlung über 500 € erfolgt – morgen."
    assert p.defects == ("no charset declared for 8-bit text/plain part 1, decoded as cp1252",)


# --------------------------------------------------------------------------- malformed

MALFORMED_HEADERS = textwrap.dedent("""
    From: Lena Fischer <lena@fischer-bau.example>
    To: ar@example.com
    Subject: Re: Invoice INV-4000
    Date: Mon, 9 Mar 2026 08:00:00 +0100
    Message-ID: <bad@fischer-bau.example>
    MIME-Version: 1.0
    """)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            eml(MALFORMED_HEADERS + 'Content-Type: text/plain; charset="x-foo"\n\nHallo\n'),
            "unknown charset 'x-foo' in text/plain part 1",
        ),
        (
            eml(
                MALFORMED_HEADERS
                + "Content-Type: multipart/alternative;\n\nThis is a multi-part message in MIME"
            ),
            "broken MIME structure: multipart/alternative has no boundary parameter",
        ),
        (
            eml(
                MALFORMED_HEADERS
                + 'Content-Type: multipart/mixed; boundary="=_NextPart_000_0012"\n\n'
                + "This is a multi-part message in MIME format.\n\n"
            ),
            "broken MIME structure: boundary '=_NextPart_000_0012' of multipart/mixed never "
            "appears in the body (truncated?)",
        ),
        (
            eml(
                MALFORMED_HEADERS
                + "Content-Type: text/plain; charset=utf-8\n"
                + "Content-Transfer-Encoding: base64\n\nV2lyIHphaGxlb\n"
            ),
            "base64 body of text/plain part 1 cannot be decoded",
        ),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06",
            "no headers: the bytes do not start with an email header block",
        ),
        (
            b"Content-Type: text/plain\r\nX-Junk: 1\r\n\r\nhello\r\n",
            "not an email: no From, Message-ID or Date header",
        ),
    ],
    ids=["unknown-charset", "no-boundary", "truncated-before-boundary", "base64", "png", "no-id"],
)
def test_malformed_email_raises_with_a_clear_message(raw: bytes, message: str) -> None:
    with pytest.raises(MalformedEmail) as info:
        parse_email(raw)
    assert str(info.value) == message


def test_oversize_is_refused_before_parsing() -> None:
    raw = GMAIL_QP_REPLY + b"x" * (31_457_280 - len(GMAIL_QP_REPLY))
    start = time.perf_counter()
    with pytest.raises(MalformedEmail) as info:
        parse_email(raw)
    assert str(info.value) == "message is 31,457,280 bytes, over the limit of 25,000,000"
    assert time.perf_counter() - start < 0.5
    with pytest.raises(MalformedEmail, match="over the limit of 1,000"):
        parse_email(GMAIL_QP_REPLY, max_bytes=1_000)


ALL_FIXTURES = [
    GMAIL_QP_REPLY,
    OUTLOOK_DE_LATIN1,
    OUTLOOK_EN_FROM_SENT,
    THUNDERBIRD_DE_FLOWED,
    APPLE_MAIL_BASE64,
    OUTLOOK_WEB_HTML_ONLY,
    GMAIL_HTML_ONLY_BLOCKQUOTE,
    REMITTANCE_OUTLOOK,
    POSTFIX_DSN,
    POSTFIX_DELAYED_DSN,
    EXIM_BOUNCE,
    QMAIL_BOUNCE,
    O365_NDR,
    GMAIL_DSN,
]


def test_fuzz_random_truncated_and_mutated_input_only_ever_raises_malformed() -> None:
    rng = random.Random(20260303)
    samples: list[bytes] = [rng.randbytes(rng.randrange(0, 2000)) for _ in range(150)]
    for raw in ALL_FIXTURES:
        samples.extend(raw[: rng.randrange(len(raw))] for _ in range(12))
        for _ in range(12):
            mutated = bytearray(raw)
            for _ in range(rng.randrange(1, 30)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            samples.append(bytes(mutated))
    samples += [b"", b"\r\n", b"From: x\r\n", b"From:\r\n\r\n", b">" * 5000, b"On " * 20000]
    parsed = 0
    for raw in samples:
        try:
            result = parse_email(raw)
        except MalformedEmail as exc:
            assert not str(exc).startswith("internal parser error"), (str(exc), raw[:200])
        else:
            parsed += 1
            assert result.size == len(raw)
            assert result.date is None or result.date.tzinfo is not None
    assert parsed > 200  # truncated and mutated real mail mostly still parses


def test_no_catastrophic_backtracking_on_long_lines() -> None:
    body = ("On " + "a b " * 30_000 + "\n") * 3 + ("From: x\n" * 5_000) + "Am " * 20_000
    raw = eml(MALFORMED_HEADERS + "Content-Type: text/plain; charset=utf-8\n\n") + body.encode()
    start = time.perf_counter()
    p = parse_email(raw)
    assert time.perf_counter() - start < 1.0
    assert p.new_text.startswith("On a b a b")


def test_html_tag_soup_is_linear() -> None:
    html = "<div>" * 10_000 + "</span>" * 10_000 + "<p>Paid.</p>"
    start = time.perf_counter()
    p = parse_email(html_reply(html))
    assert time.perf_counter() - start < 1.0  # the naive end-tag scan took minutes
    assert p.new_text == "Paid."


def test_too_many_parts_or_repeated_headers_are_bounded() -> None:
    parts = "".join(f"--zz\nContent-Type: text/plain\n\npart {i}\n" for i in range(1_001))
    raw = eml(MALFORMED_HEADERS + "Content-Type: multipart/mixed; boundary=zz\n\n" + parts)
    with pytest.raises(MalformedEmail, match=r"^more than 1,000 MIME parts$"):
        parse_email(raw)
    junk_from = "From: =?iso-8859-1?Q?M=FCller?= <broken.example\n" * 500
    p = parse_email(eml(junk_from + "Message-ID: <many-from@example.com>\n\nhello\n"))
    assert p.from_addr is None
    assert "500 from headers, only the first 1 read" in p.defects
