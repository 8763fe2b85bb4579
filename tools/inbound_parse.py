"""Inbound email parsing: raw bytes of a received message in, an audited ``ParsedEmail`` out.

This module owns everything between "the IMAP server handed us these bytes" and "here is
what the sender newly wrote": MIME structure and charsets, HTML-to-text, splitting the new
text from quoted history, forwarded blocks and signatures (including GroupWise's
">>> Name date >>>" header and "<name> wrote on <date>:"), recognising automatic mail
(RFC 3834 and the usual vendor headers, Sieve's "auto-replied (vacation)", localized
absence subjects, and read receipts by their "Read:"/"Gelesen:" subject) and reading
delivery failure reports (RFC 3464 DSNs and the Postfix, Exim, qmail, Exchange and Gmail
text formats). It decides nothing about the customer's intent (that is
``agent.classification``) and never opens, runs or keeps attachment content: attachments
are recorded by name, type and decoded size only.

``parse_email`` either returns a ``ParsedEmail`` or raises ``MalformedEmail`` (the message
goes to quarantine); it raises nothing else on any input. Odd but readable input (a missing
Date, bad base64 padding, bytes invalid in the declared charset) is parsed and the problem
is listed in ``ParsedEmail.defects`` for the audit log.

Implementation notes:

* The MIME tree is parsed with the stdlib parser under ``email.policy.compat32``, which
  never raises on junk; header values are decoded with ``email.policy.default``'s header
  registry (RFC 2047, RFC 5322 address lists), falling back to ``email.header`` when that
  raises.
* Quote/signature splitting is done by linear, line-based rules here rather than with
  ``mail-parser-reply``: that library's "On ... wrote:" pattern backtracks catastrophically
  on a long line starting with "On " (a 48 KB line took over a minute), it cuts hyphen lists
  and any "Thanks," line as a signature, and costs about 0.5 ms per message.
* HTML is converted with a small ``html.parser`` converter that also knows which parts
  are quoted history (``<blockquote>``, Gmail's ``gmail_quote``, Outlook's
  ``divRplyFwdMsg``/``appendonsend``, Thunderbird's ``moz-cite-prefix``, ...).
"""

from __future__ import annotations

import codecs
import contextlib
import email.errors
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value, getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from agent.classification import AutoKind

__all__ = [
    "Attachment",
    "BounceReport",
    "MalformedEmail",
    "ParsedEmail",
    "parse_email",
]

DEFAULT_MAX_BYTES = 25_000_000
_MAX_DEPTH = 40
"""Deeper MIME nesting than this is not mail anyone wrote; it is refused."""
_MAX_ADDRESS_HEADERS = 20
_MAX_ADDRESS_HEADER_CHARS = 65_536
_MAX_PARTS = 1_000
"""More MIME parts than this is not a reply; it is refused (and bounds the work)."""
_MAX_BOUNDARY_LINES = 20_000
_MAX_HTML = 1_000_000
"""Characters of an HTML body that are converted (html.parser runs ~1 µs a character)."""
_MAX_SCAN = 200_000
"""Characters of body text that the quote, absence and bounce rules look at."""


class MalformedEmail(Exception):
    """The bytes are not a readable email; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str | None
    content_type: str
    size: int
    """Decoded bytes; the content is never opened or run, never kept."""


@dataclass(frozen=True, slots=True)
class BounceReport:
    failed_address: str | None
    """Lowercased addr-spec of the recipient that failed."""
    original_message_id: str | None
    """``<...>`` as found in the returned original headers or text."""
    status: str | None
    """Enhanced status code, e.g. ``5.1.1``."""
    permanent: bool
    """5.x.x, "failed" and anything unknown are permanent; 4.x.x / "delayed" are not."""
    diagnostic: str | None
    format: str
    """Where the facts were read from: ``rfc3464`` (a machine-readable delivery-status
    part, whoever sent it), or the human-readable text of ``postfix``, ``exim``,
    ``qmail``, ``exchange``, ``gmail`` or ``generic`` reports."""


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_addr: str | None
    from_name: str
    recipients: tuple[str, ...]
    """Lowercased addr-specs from To, Cc, Delivered-To, X-Original-To (deduplicated)."""
    subject: str
    date: datetime | None
    text: str
    """The full body as text (text/plain preferred; HTML-only mail converted)."""
    new_text: str
    """Only what the sender newly wrote: quotes, forwarded blocks and signature removed."""
    attachments: tuple[Attachment, ...]
    automatic: AutoKind | None
    auto_evidence: str
    bounce: BounceReport | None
    defects: tuple[str, ...]
    size: int


def parse_email(raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedEmail:
    """Parse one received message. Raises ``MalformedEmail`` (and nothing else) when the
    bytes cannot be read as an email; see the module docstring."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"parse_email takes bytes, not {type(raw).__name__}")
    raw = bytes(raw)
    if len(raw) > max_bytes:
        raise MalformedEmail(f"message is {len(raw):,} bytes, over the limit of {max_bytes:,}")
    if raw.count(b"\n--") > _MAX_BOUNDARY_LINES:  # cheap, before the parser spends seconds
        raise MalformedEmail(f"over {_MAX_BOUNDARY_LINES:,} MIME boundary lines")
    try:
        return _parse(raw)
    except MalformedEmail:
        raise
    except RecursionError as exc:
        raise MalformedEmail("MIME structure is nested too deeply to parse") from exc
    except Exception as exc:  # last line of defence: arbitrary bytes never crash the caller
        raise MalformedEmail(f"internal parser error: {type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------- the pipeline


class _Defects:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        if text not in self.items:
            self.items.append(text)

    def from_part(self, part: Message, where: str) -> None:
        for defect in part.defects:
            self.add(f"{type(defect).__name__} in {where}")


def _parse(raw: bytes) -> ParsedEmail:
    msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    defects = _Defects()
    headers = _Headers(msg, defects)
    if not headers.names:
        raise MalformedEmail("no headers: the bytes do not start with an email header block")
    if not (headers.has("from") or headers.has("message-id") or headers.has("date")):
        raise MalformedEmail("not an email: no From, Message-ID or Date header")

    message_id = _message_id(headers, defects)
    from_addr, from_name = _from(headers, defects)
    subject = " ".join(headers.text("subject").split())
    date = _date(headers, defects)

    tree = _Tree(msg, defects)
    text, new_source = tree.body_text()
    new_text = _extract_new(new_source)

    signals = _auto_signals(headers, from_addr)
    bounce, bounce_evidence, success_dsn = _find_bounce(
        tree, headers, text, from_addr, subject, signals, defects
    )
    automatic, evidence = _classify_automatic(
        headers, subject, text, new_text, signals, bounce, bounce_evidence, success_dsn
    )
    return ParsedEmail(
        message_id=message_id,
        in_reply_to=_msg_ids(headers.text("in-reply-to")),
        references=_msg_ids(" ".join(headers.all_text("references"))),
        from_addr=from_addr,
        from_name=from_name,
        recipients=_recipients(headers),
        subject=subject,
        date=date,
        text=text,
        new_text=new_text,
        attachments=tree.attachments(),
        automatic=automatic,
        auto_evidence=evidence,
        bounce=bounce,
        defects=tuple(defects.items),
        size=len(raw),
    )


# --------------------------------------------------------------------------- headers


def _recover_8bit(value: str) -> tuple[str, str | None]:
    """Header bytes that were not ASCII arrive surrogate-escaped: decode them as utf-8,
    else cp1252. Returns the text and the charset guessed (None when all ASCII)."""
    try:
        value.encode("utf-8")
        return value, None
    except UnicodeEncodeError:
        pass
    data = value.encode("utf-8", "surrogateescape")
    for charset in ("utf-8", "cp1252"):
        try:
            return data.decode(charset), charset
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


class _Headers:
    """Raw header values of the top-level message, decoded on demand."""

    def __init__(self, msg: Message, defects: _Defects) -> None:
        self._defects = defects
        self._raw: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            key = str(name).strip().lower()
            text = "".join(str(value).splitlines())
            text, guessed = _recover_8bit(text)
            if guessed:
                defects.add(f"8-bit bytes in {name} header, decoded as {guessed}")
            self._raw.setdefault(key, []).append(text)
        self.names = tuple(self._raw)
        self._addresses: dict[str, list[tuple[str, str]]] = {}

    def has(self, name: str) -> bool:
        return name in self._raw

    def raw(self, name: str) -> str:
        values = self._raw.get(name)
        return values[0] if values else ""

    def all_raw(self, name: str) -> list[str]:
        return list(self._raw.get(name, ()))

    def text(self, name: str) -> str:
        values = self._raw.get(name)
        return _decode_unstructured(name, values[0], self._defects) if values else ""

    def all_text(self, name: str) -> list[str]:
        return [_decode_unstructured(name, v, self._defects) for v in self._raw.get(name, ())]

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, addr-spec) pairs of the occurrences of an address header (From:
        the first only). Work is bounded: hostile mail can repeat a header thousands of
        times, and the full RFC 5322 parser costs ~0.5 ms on a junk value."""
        cached = self._addresses.get(name)
        if cached is None:
            cached = []
            values = self._raw.get(name, [])
            limit = 1 if name == "from" else _MAX_ADDRESS_HEADERS
            if len(values) > limit:
                self._defects.add(f"{len(values)} {name} headers, only the first {limit} read")
            for value in values[:limit]:
                if len(value) > _MAX_ADDRESS_HEADER_CHARS:
                    self._defects.add(f"{name} header over {_MAX_ADDRESS_HEADER_CHARS:,} chars")
                    value = value[:_MAX_ADDRESS_HEADER_CHARS].rpartition(",")[0]
                cached.extend(_decode_addresses(name, value, self._defects))
            self._addresses[name] = cached
        return list(cached)


def _decode_unstructured(name: str, value: str, defects: _Defects) -> str:
    if "=?" not in value:
        return value.strip()
    try:
        return str(policy.default.header_factory("x-unstructured", value)).strip()
    except Exception:
        pass
    try:
        return str(make_header(decode_header(value))).strip()
    except Exception:
        defects.add(f"undecodable encoded words in {name} header, kept as is")
        return value.strip()


_ADDR = r"[^<>\s@,\"()\\:;\[\]]+@[^<>\s@,\"()\\:;\[\]]+"
_SIMPLE_MAILBOX = re.compile(
    rf'\s*(?:(?:"(?P<q>[^"\\]*)"|(?P<n>[^<>@,"()\\:;]*?))\s*<(?P<a>{_ADDR})>|(?P<b>{_ADDR}))'
    r"\s*(?:,|\Z)"
)


def _simple_addresses(value: str) -> list[tuple[str, str]] | None:
    """The common case (``Name <a@b>, "Last, First" <c@d>, e@f``) without the full RFC 5322
    parser, which costs ~100 µs a header; None when the value needs the real parser."""
    if "=?" in value:
        return None
    out: list[tuple[str, str]] = []
    pos, end = 0, len(value)
    while pos < end:
        m = _SIMPLE_MAILBOX.match(value, pos)
        if m is None or m.end() == pos:
            return None
        name = m.group("q") if m.group("q") is not None else (m.group("n") or "")
        out.append((" ".join(name.split()), m.group("a") or m.group("b")))
        pos = m.end()
    return out or None


def _decode_addresses(name: str, value: str, defects: _Defects) -> list[tuple[str, str]]:
    simple = _simple_addresses(value)
    if simple is not None:
        return simple
    addresses = None
    try:
        header = policy.default.header_factory(name, value)
        addresses = getattr(header, "addresses", None)
        if addresses is not None and header.defects:
            defects.add(f"{name.title()} header: {header.defects[0]}")
    except Exception:
        defects.add(f"unparseable {name.title()} header")
    if addresses:
        good = [(a.display_name or "", a.addr_spec) for a in addresses if "@" in a.addr_spec]
        if good:
            return good
    result: list[tuple[str, str]] = []
    for display, addr in getaddresses([value]):
        if "@" in addr:
            result.append((_decode_unstructured(name, display, defects), addr))
    return result


_MSG_ID = re.compile(r"<([^<>]{1,998})>")


def _msg_ids(value: str) -> tuple[str, ...]:
    seen: list[str] = []
    for m in _MSG_ID.finditer(value):
        ident = "<" + "".join(m.group(1).split()) + ">"
        if ident != "<>" and ident not in seen:
            seen.append(ident)
    return tuple(seen)


def _message_id(headers: _Headers, defects: _Defects) -> str | None:
    value = headers.raw("message-id").strip()
    if not value:
        defects.add("no Message-ID header")
        return None
    ids = _msg_ids(value)
    if ids:
        return ids[0]
    token = value.split()[0]
    defects.add(f"Message-ID {value[:80]!r} has no angle brackets")
    return f"<{token}>"


def _from(headers: _Headers, defects: _Defects) -> tuple[str | None, str]:
    if not headers.has("from"):
        defects.add("no From header")
        return None, ""
    pairs = headers.addresses("from")
    if not pairs:
        defects.add(f"From header {headers.raw('from')[:80]!r} holds no address")
        return None, headers.text("from")
    name, addr = pairs[0]
    return addr.strip().lower(), " ".join(name.split())


def _recipients(headers: _Headers) -> tuple[str, ...]:
    out: list[str] = []
    for name in ("to", "cc", "delivered-to", "x-original-to"):
        for _display, addr in headers.addresses(name):
            addr = addr.strip().lower()
            if addr and addr not in out:
                out.append(addr)
    return tuple(out)


def _date(headers: _Headers, defects: _Defects) -> datetime | None:
    value = headers.raw("date").strip()
    if not value:
        defects.add("no Date header")
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.add(f"unparseable Date header {value[:80]!r}")
        return None
    if parsed.tzinfo is None:  # "-0000": UTC, local zone unknown (RFC 5322 3.3)
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# --------------------------------------------------------------------------- MIME tree

_REPORT_MACHINERY = frozenset(
    {
        "message/delivery-status",
        "message/global-delivery-status",
        "message/disposition-notification",
        "text/rfc822-headers",
        "message/rfc822",
        "message/global",
        "message/global-headers",
    }
)
_UNDECLARED_CHARSETS = frozenset({"unknown-8bit", "x-unknown", "unknown", "8bit", "default"})


def _param(part: Message, name: str, header: str = "content-type") -> str:
    """A MIME parameter as text ("" when absent or unreadable)."""
    try:
        value = part.get_param(name, header=header)
        if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
            value = collapse_rfc2231_value(value)
    except Exception:
        return ""
    return str(value or "").strip()


def _is_attachment(part: Message) -> bool:
    disposition = str(part.get("content-disposition") or "").split(";")[0].strip().lower()
    if disposition == "attachment":
        return True
    return _filename(part) is not None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename() or _param(part, "name")
    except Exception:
        return None
    if not name:
        return None
    name = str(name)
    if "=?" in name:
        with contextlib.suppress(Exception):
            name = str(make_header(decode_header(name)))
    name, _guessed = _recover_8bit(name)
    return " ".join(name.split()) or None


class _Tree:
    """The message's MIME tree: leaf labels, the body parts, attachments, brokenness."""

    def __init__(self, msg: Message, defects: _Defects) -> None:
        self.msg = msg
        self.defects = defects
        self.labels: dict[int, str] = {}
        self.leaves: list[tuple[Message, str, str, str]] = []  # part, label, parent, type
        self.broken: list[tuple[Message, str]] = []  # multipart without parts, reason
        self._index(msg)
        self._attachment: dict[int, bool] = {}
        self.body = _body_parts(msg, 0, self.is_attachment)
        root_broken = [reason for part, reason in self.broken if part is msg]
        if root_broken:
            raise MalformedEmail(f"broken MIME structure: {root_broken[0]}")
        defects.from_part(msg, "the message")

    def _index(self, msg: Message) -> None:
        counter = 0
        stack: list[tuple[Message, str, int]] = [(msg, "", 0)]
        while stack:
            part, parent, depth = stack.pop()
            if depth > _MAX_DEPTH:
                raise MalformedEmail(f"MIME structure nested deeper than {_MAX_DEPTH} levels")
            ctype = part.get_content_type()
            payload = _children(part)
            if ctype.startswith("multipart/"):
                if isinstance(payload, list) and payload:
                    stack.extend((child, ctype, depth + 1) for child in reversed(payload))
                    if part is not msg:
                        self.defects.from_part(part, ctype)
                    continue
                self.broken.append((part, _broken_reason(part, ctype)))
                if part is not msg:
                    self.defects.add(f"broken nested {ctype}: {_broken_reason(part, ctype)}")
                continue
            counter += 1
            if counter > _MAX_PARTS:
                raise MalformedEmail(f"more than {_MAX_PARTS:,} MIME parts")
            label = f"{ctype} part {counter}"
            self.labels[id(part)] = label
            self.leaves.append((part, label, parent, ctype))

    def is_attachment(self, part: Message) -> bool:
        found = self._attachment.get(id(part))
        if found is None:
            found = self._attachment[id(part)] = _is_attachment(part)
        return found

    # ---- body

    def body_text(self) -> tuple[str, str]:
        """The full body text and the text the new-text rules start from (for HTML,
        with blockquotes and quoted Outlook/Gmail blocks already left out)."""
        parts = self.body
        if not parts and any(part is not self.msg for part, _ in self.broken):
            raise MalformedEmail(f"broken MIME structure: {self.broken[0][1]}")
        fulls: list[str] = []
        news: list[str] = []
        for part in parts:
            label = self.labels.get(id(part), part.get_content_type())
            decoded = _decode_text_part(part, label, self.defects)
            if part.get_content_subtype() == "html":
                if len(decoded) > _MAX_HTML:
                    self.defects.add(f"{label} over {_MAX_HTML:,} characters, rest not converted")
                    decoded = decoded[: decoded.rfind(">", 0, _MAX_HTML) + 1]
                full, new = _html_to_text(decoded)
            else:
                if _param(part, "format").lower() == "flowed":
                    delsp = _param(part, "delsp").lower() == "yes"
                    decoded = _unflow(decoded, delsp)
                full = new = _tidy(decoded)
            if full.strip():
                fulls.append(full)
            if new.strip():
                news.append(new)
        return "\n\n".join(fulls), "\n\n".join(news)

    # ---- attachments

    def attachments(self) -> tuple[Attachment, ...]:
        body_ids = {id(p) for p in self.body}
        out: list[Attachment] = []
        for part, label, parent, ctype in self.leaves:
            if id(part) in body_ids:
                continue
            if parent == "multipart/report" and ctype in _REPORT_MACHINERY:
                continue
            if not (self.is_attachment(part) or not ctype.startswith("text/")):
                continue
            out.append(Attachment(_filename(part), ctype, self._size(part, label)))
        return tuple(out)

    def _size(self, part: Message, label: str) -> int:
        payload = _children(part)
        if isinstance(payload, list):  # message/rfc822: the attached message itself
            try:
                return sum(len(p.as_bytes()) for p in payload)
            except Exception:
                return 0
        data = part.get_payload(decode=True)
        self.defects.from_part(part, label)
        return len(data) if isinstance(data, bytes) else 0

    # ---- helpers for the bounce reader

    def parts_of_type(self, *ctypes: str) -> Iterator[Message]:
        for part, _label, _parent, ctype in self.leaves:
            if ctype in ctypes:
                yield part

    def has_report(self, report_type: str) -> bool:
        for part in _walk_multiparts(self.msg):
            kind = _param(part, "report-type").lower()
            if part.get_content_type() == "multipart/report" and kind == report_type:
                return True
        return False


def _children(part: Message) -> list[Message] | None:
    """The sub-parts of a multipart or message/* part; None for a leaf. (Not
    ``get_payload()`` on a leaf: that decodes with the declared charset and raises on junk.)"""
    if not part.is_multipart():
        return None
    payload = part.get_payload()
    return payload if isinstance(payload, list) else None


def _walk_multiparts(msg: Message) -> Iterator[Message]:
    stack = [msg]
    while stack:
        part = stack.pop()
        payload = _children(part)
        if part.get_content_maintype() == "multipart" and isinstance(payload, list):
            yield part
            stack.extend(payload)


def _broken_reason(part: Message, ctype: str) -> str:
    kinds = {type(d) for d in part.defects}
    if email.errors.NoBoundaryInMultipartDefect in kinds:
        return f"{ctype} has no boundary parameter"
    if email.errors.StartBoundaryNotFoundDefect in kinds:
        boundary = part.get_boundary() or ""
        return f"boundary {boundary!r} of {ctype} never appears in the body (truncated?)"
    return f"{ctype} has no recoverable parts"


def _body_parts(part: Message, depth: int, is_att: Callable[[Message], bool]) -> list[Message]:
    """The leaf text parts that make up the body, in order."""
    if depth > _MAX_DEPTH:
        return []
    maintype, _, subtype = part.get_content_type().partition("/")
    payload = _children(part)
    if maintype == "multipart":
        if not isinstance(payload, list) or not payload:
            return []
        if subtype == "alternative":
            plain: list[Message] | None = None
            other: list[Message] | None = None
            for child in payload:
                found = _body_parts(child, depth + 1, is_att)
                if not found:
                    continue
                if all(p.get_content_subtype() == "plain" for p in found):
                    plain = plain or found
                else:
                    other = other or found
            return plain or other or []
        if subtype in ("related", "signed", "report"):
            return _body_parts(payload[0], depth + 1, is_att)
        if subtype == "encrypted":
            return []
        out: list[Message] = []
        for child in payload:
            if not is_att(child):
                out.extend(_body_parts(child, depth + 1, is_att))
        return out
    if maintype == "text" and subtype in ("plain", "html") and not is_att(part):
        return [part]
    return []


def _decode_text_part(part: Message, label: str, defects: _Defects) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        data = b""
    kinds = {type(d) for d in part.defects}
    if email.errors.InvalidBase64LengthDefect in kinds:
        raise MalformedEmail(f"base64 body of {label} cannot be decoded")
    defects.from_part(part, label)
    charset = (part.get_content_charset() or "").strip().strip("\"'").lower()
    if charset in _UNDECLARED_CHARSETS:
        defects.add(f"placeholder charset {charset!r} in {label}")
        charset = ""
    if charset:
        try:
            codec = codecs.lookup(charset).name
        except (LookupError, ValueError):  # ValueError: a NUL in the name
            raise MalformedEmail(f"unknown charset {charset!r} in {label}") from None
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
        if codec == "ascii":
            text, used = _guess_decode(data)
            defects.add(f"8-bit bytes in {label} declared us-ascii, decoded as {used}")
            return text
        defects.add(f"bytes invalid in charset {charset!r} in {label}, replaced")
        return data.decode(codec, errors="replace")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        text, used = _guess_decode(data)
        defects.add(f"no charset declared for 8-bit {label}, decoded as {used}")
        return text


def _guess_decode(data: bytes) -> tuple[str, str]:
    for charset in ("utf-8", "cp1252"):
        try:
            return data.decode(charset), charset
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def _unflow(text: str, delsp: bool) -> str:
    """Join the soft line breaks of RFC 3676 format=flowed text."""
    out: list[str] = []
    cur: str | None = None
    cur_depth = 0
    for line in text.replace("\r\n", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        soft = content.endswith(" ") and content != "-- "
        if soft and delsp:
            content = content[:-1]
        if cur is not None and depth == cur_depth:
            cur += content
        else:
            if cur is not None:
                out.append(_quote_prefix(cur_depth) + cur)
            cur, cur_depth = content, depth
        if not soft:
            out.append(_quote_prefix(cur_depth) + cur)
            cur = None
    if cur is not None:
        out.append(_quote_prefix(cur_depth) + cur)
    return "\n".join(out)


def _quote_prefix(depth: int) -> str:
    return "> " * depth


_INVISIBLE = re.compile("[\ufeff\u200b\u200c\u200d\u2060]")


def _tidy(text: str) -> str:
    text = _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.rstrip().replace("\xa0", " ") for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):  # runs of blank lines become one
            out.append(line)
    return "\n".join(out).strip("\n")


# --------------------------------------------------------------------------- HTML to text

_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt"),
        *("fieldset", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6"),
        *("header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table"),
        *("tbody", "thead", "tfoot", "tr", "ul"),
    }
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript", "xml"})
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr"}
)
_CUT_IDS = frozenset(
    {"divrplyfwdmsg", "x_divrplyfwdmsg", "appendonsend", "x_appendonsend", "reply-intro"}
)
_CUT_CLASSES = (
    "gmail_quote",
    "moz-cite-prefix",
    "moz-forward-container",
    "outlookmessageheader",
    "yahoo_quoted",
    "protonmail_quote",
    "mail-editor-reference-message-container",
    "zmail_extra",
)
_SIGNATURE_CLASSES = ("gmail_signature", "moz-signature")
_SIGNATURE_IDS = frozenset({"signature", "x_signature", "signature_bookmark"})
_WS = re.compile(r"[ \t\r\n\f]+")

_QUOTE, _NONEW, _SKIP, _PRE = 1, 2, 4, 8


class _HtmlToText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, bool, str]] = []  # (quote depth, in new text, text)
        self.cur: list[str] = []
        self.stack: list[tuple[str, int]] = []
        self.open: dict[str, int] = {}  # open elements by tag: end tags of others are O(1)
        self.quote = 0
        self.nonew = 0
        self.skip = 0
        self.pre = 0
        self.cut = False

    # line handling
    def _flush(self, force: bool = False) -> None:
        if self.cur or force:
            text = "".join(self.cur).rstrip()
            self.lines.append((self.quote, not (self.cut or self.nonew or self.quote), text))
            self.cur = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":  # a <head> left open must not swallow the body
            self._close("head")
        if self.skip or tag in _SKIP_TAGS:
            if tag not in _VOID_TAGS:
                self._push(tag, _SKIP if tag in _SKIP_TAGS else 0)
                self.skip += tag in _SKIP_TAGS
            return
        if tag == "br":
            self._flush(force=True)
            return
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag == "li":
            self.cur.append("- ")
        elif tag in ("td", "th") and self.cur:
            self.cur.append(" ")
        if tag in _VOID_TAGS:
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        ident = values.get("id", "").lower()
        classes = values.get("class", "").lower()
        style = values.get("style", "").replace(" ", "").lower()
        if (
            ident in _CUT_IDS
            or (classes and any(c in classes for c in _CUT_CLASSES))
            or "border:none;border-top:solid" in style
        ):
            self._flush()
            self.cut = True
        flags = 0
        if tag == "blockquote":
            flags |= _QUOTE
            self.quote += 1
        if ident in _SIGNATURE_IDS or (classes and any(c in classes for c in _SIGNATURE_CLASSES)):
            flags |= _NONEW
            self.nonew += 1
        if tag == "pre":
            flags |= _PRE
            self.pre += 1
        self._push(tag, flags)

    def _push(self, tag: str, flags: int) -> None:
        self.stack.append((tag, flags))
        self.open[tag] = self.open.get(tag, 0) + 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS and not self.skip:
            self._flush()
        self._close(tag)

    def _close(self, tag: str) -> None:
        """Pop the innermost open ``tag`` and everything opened inside it (amortised O(1):
        an end tag of an element that is not open is ignored without a scan)."""
        if not self.open.get(tag):
            return
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for name, flags in reversed(self.stack[i:]):
                    self._undo(flags)
                    self.open[name] -= 1
                del self.stack[i:]
                return

    def _undo(self, flags: int) -> None:
        if flags & (_QUOTE | _NONEW):
            self._flush()
        if flags & _QUOTE:
            self.quote -= 1
        if flags & _NONEW:
            self.nonew -= 1
        if flags & _SKIP:
            self.skip -= 1
        if flags & _PRE:
            self.pre -= 1

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            pieces = data.replace("\r\n", "\n").split("\n")
            for i, piece in enumerate(pieces):
                if i:
                    self._flush(force=True)
                self.cur.append(piece)
            return
        data = _WS.sub(" ", data)
        if not self.cur:
            data = data.lstrip(" ")
        elif self.cur[-1].endswith(" ") and data.startswith(" "):
            data = data[1:]
        if data:
            self.cur.append(data)

    def result(self) -> tuple[str, str]:
        self._flush()
        full = [_quote_prefix(depth) + text if text else text for depth, _n, text in self.lines]
        new = [text for _d, in_new, text in self.lines if in_new]
        return _tidy("\n".join(full)), _tidy("\n".join(new))


def _html_to_text(html: str) -> tuple[str, str]:
    """Readable text of an HTML body, and the same without quoted history: content of
    blockquotes (kept in the first as ``>`` lines), Gmail/Outlook/Thunderbird quote
    containers and signature blocks."""
    parser = _HtmlToText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; this is for its rare internal asserts
        pass
    return parser.result()


# --------------------------------------------------------------------------- new text

_ATTRIBUTION = (
    ("on ", " wrote"),
    ("am ", " schrieb"),
    ("le ", " a écrit"),
    ("el ", " escribió"),
    ("op ", " schreef"),
    ("il ", " ha scritto"),
    ("den ", " skrev"),
    ("em ", " escreveu"),
    ("w dniu ", " napisał"),
    ("dne ", " napsal"),
)
_ATTRIBUTION_STARTS = tuple(start for start, _kw in _ATTRIBUTION)
_WROTE_ON = re.compile(r" (?:wrote on|schrieb am|a écrit le|escribió el|schreef op) ")
_GROUPWISE = re.compile(r">>>\s*\S.*\S\s*>>>")
"""GroupWise's header above an unprefixed quote: ">>> Name <addr> 3/5/2026 7:00 AM >>>"."""
_WROTE_ENDINGS = re.compile(
    r"(?:wrote|schrieb|a écrit|escribió|schreef|ha scritto|skrev|escreveu|napisał)\s*:$"
)
_SEPARATORS = frozenset(
    {
        "original message",
        "original-nachricht",
        "ursprüngliche nachricht",
        "originalnachricht",
        "message d'origine",
        "mensaje original",
        "messaggio originale",
        "oorspronkelijk bericht",
        "ursprungligt meddelande",
        "oprindelig meddelelse",
    }
)
_FORWARD_SEPARATORS = frozenset(
    {
        "forwarded message",
        "weitergeleitete nachricht",
        "message transféré",
        "mensaje reenviado",
        "messaggio inoltrato",
        "doorgestuurd bericht",
        "vidarebefordrat meddelande",
        "videresendt meddelelse",
    }
)
_FORWARD_LINES = frozenset(
    {
        "begin forwarded message:",
        "anfang der weitergeleiteten nachricht:",
        "début du message réexpédié :",
        "début du message réexpédié:",
        "inicio del mensaje reenviado:",
        "inizio messaggio inoltrato:",
        "begin doorgestuurd bericht:",
    }
)
_LABEL = re.compile(r"\*{0,2}([^\W\d_]{1,12}(?: [^\W\d_]{1,6})?)\s?\*{0,2}\s*:")
_FROM_LABELS = frozenset({"from", "von", "de", "da", "van", "från", "fra", "od", "от"})
_DATE_LABELS = frozenset(
    {
        "sent",
        "date",
        "gesendet",
        "datum",
        "envoyé",
        "enviado",
        "fecha",
        "inviato",
        "data",
        "verzonden",
        "skickat",
        "sendt",
        "datum och tid",
    }
)
_SUBJECT_LABELS = frozenset(
    {
        "subject",
        "betreff",
        "objet",
        "asunto",
        "oggetto",
        "onderwerp",
        "ämne",
        "emne",
        "assunto",
        "temat",
        "předmět",
    }
)


def _label(line: str) -> str | None:
    m = _LABEL.match(line)
    return m.group(1).lower() if m else None


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


_TIME_OR_ADDRESS = re.compile(r"\d{1,2}:\d{2}\b|@")


def _is_attribution(s: str) -> bool:
    """ "On <date> <time>, <name> wrote:" and its translations. A time or an address must
    be in it, so that "On 15.03. we pay, as our CFO wrote:" is not taken for one."""
    low = s.lower()
    if len(low) > 500 or not low.endswith(":") or not _TIME_OR_ADDRESS.search(low):
        return False
    for start, keyword in _ATTRIBUTION:
        if low.startswith(start) and keyword in low:
            return True
    # "<name> wrote on 3/18/2026 8:00 AM:", "<name> schrieb am 18.03.2026 08:00:"
    return bool(_WROTE_ON.search(low))


def _find_header(lines: list[str], start: int) -> tuple[int, str, int]:
    """The first line at or after ``start`` where quoted history or a forwarded message
    begins: (index, kind, number of header lines). (len(lines), "", 0) if none."""
    n = len(lines)
    for i in range(start, n):
        s = lines[i].strip()
        if s.startswith(">>>") and _GROUPWISE.fullmatch(s) and _TIME_OR_ADDRESS.search(s):
            return i, "separator", 1
        if not s or s.startswith(">") or len(s) > 500:
            continue
        low = s.lower()
        # "On <date>, <name> wrote:" possibly wrapped over up to three lines
        if low.startswith(_ATTRIBUTION_STARTS) and any(c.isdigit() for c in low[:80]):
            joined = s
            for extra in range(3):
                if _is_attribution(joined):
                    return i, "attribution", extra + 1
                if i + extra + 1 >= n or len(joined) > 400:
                    break
                nxt = lines[i + extra + 1].strip()
                if not nxt or nxt.startswith(">"):
                    break
                joined = f"{joined} {nxt}"
        elif _is_attribution(s):
            return i, "attribution", 1
        if _WROTE_ENDINGS.search(low) and len(s) < 200 and _next_is_quote(lines, i + 1):
            return i, "attribution", 1
        if s[0] in "-=_*" or s[-1] in "-=_*":
            core = s.strip("-=_* ").lower()
            if core in _SEPARATORS:
                return i, "separator", 1
            if core in _FORWARD_SEPARATORS:
                return i, "forward", 1
            if (
                not core
                and len(s) >= 10
                and _looks_like_header_block(lines, _next_nonblank(lines, i + 1))
            ):
                return i, "separator", 1
        if low in _FORWARD_LINES:
            return i, "forward", 1
        if _label(s) in _FROM_LABELS and _looks_like_header_block(lines, i):
            return i, "outlook", 1
    return n, "", 0


def _next_nonblank(lines: list[str], i: int) -> int:
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i


def _next_is_quote(lines: list[str], i: int) -> bool:
    i = _next_nonblank(lines, i)
    return i < len(lines) and _is_quoted(lines[i])


def _looks_like_header_block(lines: list[str], i: int) -> bool:
    """An Outlook/forward header block: a From line, then within a few lines a date line
    and a subject line (any order, any of the usual languages)."""
    if i >= len(lines) or _label(lines[i].strip()) not in _FROM_LABELS:
        return False
    has_date = has_subject = False
    for line in lines[i + 1 : i + 8]:
        label = _label(line.strip())
        has_date = has_date or label in _DATE_LABELS
        has_subject = has_subject or label in _SUBJECT_LABELS
        if has_date and has_subject:
            return True
    return False


def _extract_new(text: str) -> str:
    """What the sender newly wrote: the text above the first quote header (top-posting),
    plus own lines between ``>`` quotes under an attribution (inline/bottom-posting);
    never ``>`` lines, never a forwarded or quoted message; signature removed."""
    lines = text[:_MAX_SCAN].split("\n")
    cut, kind, header_len = _find_header(lines, 0)
    segments = [_strip_signature([x for x in lines[:cut] if not _is_quoted(x)])]
    if kind == "attribution":
        body_start = cut + header_len
        end, _kind, _len = _find_header(lines, body_start)
        region = lines[body_start:end]
        if any(_is_quoted(x) for x in region):
            segments.append(_strip_signature([x for x in region if not _is_quoted(x)]))
    joined = "\n\n".join(_tidy("\n".join(seg)) for seg in segments)
    return _tidy(joined)


_CLOSINGS = (
    r"(?:best|kind|kindest|warm|warmest|many|with kind|with best) regards|regards|"
    r"best|best wishes|all the best|yours sincerely|sincerely(?: yours)?|yours faithfully|"
    r"yours truly|cheers|"
    r"mit (?:den )?(?:besten|freundlichen|herzlichen|freundlichem) "
    r"gr(?:ü|ue)(?:ß|ss)(?:en|e)?|"
    r"mit freundlichem gru(?:ß|ss)|freundliche gr(?:ü|ue)(?:ß|ss)e|"
    r"(?:viele|beste|liebe|herzliche|schöne|sonnige) gr(?:ü|ue)(?:ß|ss)e(?: aus [\w -]{1,30})?|"
    r"gr(?:ü|ue)(?:ß|ss)e|gru(?:ß|ss)|mfg|lg|vg|"
    r"(?:bien )?cordialement|salutations distinguées|bien à vous|"
    r"(?:un )?saludo(?:s)?(?: cordiales)?|atentamente|cordiali saluti|distinti saluti|"
    r"met vriendelijke groet(?:en)?|vriendelijke groet(?:en)?|"
    r"med vänliga hälsningar|vänliga hälsningar|hälsningar|med venlig hilsen|mvh"
)
_THANKS = (
    r"thanks|thank you|many thanks|thanks a lot|thanks again|thank you very much|thx|ty|"
    r"danke|vielen dank|danke schön|danke sehr|besten dank|merci|merci beaucoup|gracias|"
    r"grazie|bedankt|tack"
)
_CLOSING_LINE = re.compile(
    rf"(?:(?:{_THANKS})\s*(?:,|and|&|und|\+)\s*)?(?:{_CLOSINGS})"
    rf"(?:\s*[,/|&]\s*(?:{_CLOSINGS}))?\s*[,.!]*"
    r"(?:\s+(?P<name>[^\W\d_][\w.'-]*(?:\s+[^\W\d_][\w.'-]*){0,2}))?",
    re.IGNORECASE,
)
_THANKS_LINE = re.compile(rf"(?:{_THANKS})(?: in advance| so much)?\s*[,.!]*", re.IGNORECASE)
_SENT_FROM = re.compile(
    r"(?:sent from (?:my |mail for |outlook|yahoo|samsung|aol)|get outlook for |"
    r"von meinem .{1,40} gesendet|gesendet von meinem |gesendet mit |gesendet von outlook|"
    r"envoyé de mon |envoyé depuis |enviado desde mi |enviado do meu |inviato da(?:l mio)? |"
    r"verzonden (?:vanaf|met) |skickat från |sendt fra min )",
    re.IGNORECASE,
)
_PS = re.compile(r"p\.?\s?s\.?(?:\s|:)", re.IGNORECASE)


def _is_name_line(s: str) -> bool:
    words = s.split()
    return (
        0 < len(words) <= 4
        and len(s) <= 40
        and s[0].isalpha()
        and s[0].isupper()
        and s[-1] not in ".?!:"
        and not any(c.isdigit() for c in s)
    )


def _strip_signature(lines: list[str]) -> list[str]:
    """Cut at a signature: "-- ", "Sent from my iPhone", or a closing ("Best regards",
    "Mit freundlichen Grüßen", "Thanks," followed by a name). A P.S. after it is kept."""
    first_content = next((i for i, x in enumerate(lines) if x.strip()), len(lines))
    for i in range(first_content, len(lines)):
        s = lines[i].strip()
        if not s or len(s) > 120:
            continue
        cut = False
        if s == "--" or _SENT_FROM.match(s):
            cut = True
        else:
            m = _CLOSING_LINE.fullmatch(s)
            if m and (m.group("name") is None or _is_name_line(m.group("name"))):
                cut = True
            elif i > first_content and _THANKS_LINE.fullmatch(s):
                rest = [x.strip() for x in lines[i + 1 :] if x.strip()]
                nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
                cut = not rest or (bool(nxt) and _is_name_line(nxt) and len(rest) <= 8)
        if cut:
            return lines[:i] + _postscript(lines[i + 1 :])
    return lines


def _postscript(lines: list[str]) -> list[str]:
    for i, line in enumerate(lines):
        if _PS.match(line.strip()):
            out = [""]
            for x in lines[i:]:
                if not x.strip():
                    break
                out.append(x)
            return out
    return []


# --------------------------------------------------------------------------- automatic mail

_ABSENCE_SUBJECT = re.compile(
    r"automatic reply|auto[- ]?reply|autoreply|"
    r"out of (?:the )?office|\booo\b|away from (?:the )?office|"
    r"abwesenheit|automatische antwort|automatische rückantwort|außer haus|ausser haus|"
    r"nicht im büro|réponse automatique|absence du bureau|respuesta automática|"
    r"fuera de la oficina|risposta automatica|fuori sede|fuori ufficio|"
    r"automatisch antwoord|afwezig|autosvar|frånvaro|fraværende|automaattinen vastaus|"
    r"poza biurem|automatická odpověď|resposta automática|ausência",
    re.IGNORECASE,
)
_DAYISH = (
    r"(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?\b|\d|the \d|tomorrow\b|"
    r"next (?:week|mon|tue|wed|thu|fri)|jan|feb|mar|apr|may\b|jun|jul|aug|sep|oct|nov|dec"
)
_ABSENCE_TEXT = re.compile(
    r"out of (?:the )?office|on (?:annual |parental |maternity |paternity |sick |medical |"
    r"bereavement |study )?leave|"
    r"on (?:vacation|holiday|holidays)|away from (?:the |my )?(?:office|desk)|"
    rf"\bback (?:in the office |in the office on |at my desk )?(?:on )?(?:{_DAYISH})|"
    rf"\breturn(?:ing)? (?:to the office )?(?:on )?(?:{_DAYISH})|"
    r"\baway (?:at|until|till|on business|travel+ing)\b|\bnot checking (?:my )?e-?mails?\b|"
    r"limited access to (?:my )?e-?mail|"
    r"abwesend|nicht im büro|außer haus|ausser haus|im urlaub|bin (?:ab|am|bis) .{1,40}wieder|"
    r"wieder (?:im büro|erreichbar|da)|\babsent\b|en congé|de vacaciones|"
    r"fuera de la oficina|in ferie|fuori (?:sede|ufficio)|afwezig|frånvarande|ferie",
    re.IGNORECASE,
)
_READ_RECEIPT_SUBJECT = re.compile(
    r"(?:read|gelesen|lu|leído|letto|gelezen|läst|læst|lest|přečteno|odczytane)\s?:", re.IGNORECASE
)
"""A read receipt (MDN) is named by its subject: "Read: ...", "Gelesen: ..."."""
_DAEMON_LOCALPARTS = frozenset({"mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster"})


def _is_daemon(addr: str | None) -> bool:
    if not addr or "@" not in addr:
        return False
    local = addr.rsplit("@", 1)[0]
    return local in _DAEMON_LOCALPARTS or local.startswith("microsoftexchange")


def _auto_signals(headers: _Headers, from_addr: str | None) -> list[str]:
    """RFC 3834 and vendor signals of automatic mail, as evidence strings."""
    signals: list[str] = []
    auto_submitted = headers.raw("auto-submitted").strip()
    if auto_submitted and auto_submitted.split(";")[0].strip().lower() != "no":
        signals.append(f"Auto-Submitted: {auto_submitted}")
    autoreply = headers.raw("x-autoreply").strip()
    if autoreply and autoreply.lower() not in ("no", "false", "0"):
        signals.append(f"X-Autoreply: {autoreply}")
    if headers.has("x-autorespond"):
        signals.append(f"X-Autorespond: {headers.raw('x-autorespond').strip()}")
    precedence = headers.raw("precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        signals.append(f"Precedence: {precedence}")
    suppress = headers.raw("x-auto-response-suppress").lower()
    suppress_all = "all" in [v.strip() for v in suppress.split(",")]
    if suppress_all and headers.has("x-ms-exchange-inbox-rules-loop"):
        signals.append("X-Auto-Response-Suppress: All with X-MS-Exchange-Inbox-Rules-Loop")
    if headers.has("return-path") and re.fullmatch(r"\s*<\s*>\s*", headers.raw("return-path")):
        signals.append("Return-Path: <>")
    if _is_daemon(from_addr):
        signals.append(f"From: {from_addr}")
    return signals


def _classify_automatic(
    headers: _Headers,
    subject: str,
    text: str,
    new_text: str,
    signals: list[str],
    bounce: BounceReport | None,
    bounce_evidence: str,
    success_dsn: bool,
) -> tuple[AutoKind | None, str]:
    if bounce is not None:
        return "bounce", bounce_evidence
    subject_hit = _ABSENCE_SUBJECT.search(subject)
    if subject_hit:
        return "out_of_office", "; ".join([f"Subject: {subject_hit.group(0)}", *signals])
    autoreply = [s for s in signals if s.startswith("X-Autoreply")]
    if autoreply:
        return "out_of_office", "; ".join(signals)
    # Sieve's vacation extension says so in the header: "auto-replied (vacation)"
    if any(s.lower().startswith("auto-submitted:") and "vacation" in s.lower() for s in signals):
        return "out_of_office", "; ".join(signals)
    receipt = _READ_RECEIPT_SUBJECT.match(subject)
    if receipt or "disposition-notification" in headers.raw("content-type").lower():
        return "auto_other", f"read receipt (Subject: {receipt.group(0) if receipt else subject})"
    if signals:
        # the sender's own words: our quoted reminder must not make a ticket receipt an absence
        text_hit = _ABSENCE_TEXT.search((new_text or text)[:3000])
        replied = any(
            s.lower().startswith(("auto-submitted: auto-replied", "x-autorespond"))
            or s in ("Precedence: bulk", "Precedence: auto_reply", "Precedence: junk")
            or s == "Return-Path: <>"
            or s.startswith("X-Auto-Response-Suppress")
            for s in signals
        )
        if text_hit and replied:
            return "out_of_office", "; ".join([*signals, f"text: {text_hit.group(0)!r}"])
        return "auto_other", "; ".join(signals)
    if success_dsn:
        return "auto_other", "delivery-status report without a failure (Action: delivered)"
    if headers.has("list-id") and headers.has("list-unsubscribe"):
        return "auto_other", "List-Id with List-Unsubscribe"
    return None, ""


# --------------------------------------------------------------------------- bounces

_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})"
    r"(?:\.[A-Za-z0-9-]{1,63}){1,8}"
)
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d]|\.\d)")
_SMTP_WITH_STATUS = re.compile(r"\b[245]\d\d[ -]#?([245]\.\d{1,3}\.\d{1,3})(?![\d]|\.\d)")
_ORIGINAL_MSGID = re.compile(
    r"^[ \t>]*message-id:[ \t]*(?:\n[ \t]+)?(<[^<>\s]{1,500}>)", re.IGNORECASE | re.MULTILINE
)
_BOUNCE_SUBJECT = re.compile(
    r"\s*(?:undelivered mail|undeliverable|undelivered|mail delivery failed|"
    r"mail delivery (?:failure|problem|delayed)|delivery status notification|"
    r"delivery (?:failure|failed|notification|has failed)|failure notice|returned mail|"
    r"message not delivered|non-delivery|nondelivery|delayed mail|warning: message .{1,40} delayed|"
    r"unzustellbar|nicht zustellbar|unzustellbare|zustellung fehlgeschlagen|"
    r"non remis|non distribuable|échec de la remise|no se puede entregar|no entregado|"
    r"non recapitabile|onbestelbaar|kan inte levereras|olevererbart)",
    re.IGNORECASE,
)
_ORIGINAL_MARKERS = re.compile(
    r"^.{0,10}(?:-+ ?this is a copy of the message|--- below this line is a copy|"
    r"original message headers:|-+ ?original message ?-+|-+ ?original message follows|"
    r"-+ ?the original message|-* ?original message follows|-+ ?forwarded message)",
    re.IGNORECASE | re.MULTILINE,
)
_TEMPORARY = re.compile(
    r"will (?:be )?retr(?:y|ied)|still being retried|will continue (?:to try|trying)|"
    r"delivery attempts will continue|warning only|not yet been delivered|delivery is delayed|"
    r"delayed to these recipients|temporary problem|temporary failure|temporarily|"
    r"delivery incomplete|address\(es\) deferred|has been delayed|wird weiterhin versucht|"
    r"vorübergehend",
    re.IGNORECASE,
)
_FAILURE_WORDS = re.compile(
    r"fail|undeliver|could ?n[o']t be delivered|not be delivered|unknown|rejected|"
    r"does not exist|doesn't exist|not found|no such|invalid|unzustellbar|"
    r"nicht zugestellt|recipient|empfänger",
    re.IGNORECASE,
)


def _emails(text: str) -> Iterator[str]:
    for m in _EMAIL.finditer(text):
        yield m.group(0).rstrip(".-").lower()


def _first_email(text: str, exclude: Iterable[str] = ()) -> str | None:
    skip = set(exclude)
    return next((e for e in _emails(text) if e not in skip), None)


def _report_section(text: str) -> str:
    m = _ORIGINAL_MARKERS.search(text)
    return text[: m.start()] if m else text


def _status_in(text: str) -> tuple[str | None, str | None]:
    """The first enhanced status code and the line it is on."""
    m = _SMTP_WITH_STATUS.search(text) or _STATUS.search(text)
    if not m:
        return None, None
    code = m.group(1) if m.re is _SMTP_WITH_STATUS else m.group(0)
    start = text.rfind("\n", 0, m.start()) + 1
    end = text.find("\n", m.end())
    line = " ".join(text[start : end if end >= 0 else len(text)].split())
    return code, line[:300] or None


def _permanent(action: str, status: str | None, text: str) -> bool:
    action = action.lower()
    if action.startswith("failed"):
        return True
    if action.startswith("delayed"):
        return False
    if status:
        return not status.startswith("4")
    return not _TEMPORARY.search(text)


def _dsn_text(part: Message) -> str:
    payload = _children(part)
    if isinstance(payload, list):
        blocks = []
        for block in payload:
            if isinstance(block, Message):
                lines = [f"{k}: {' '.join(str(v).split())}" for k, v in block.items()]
                blocks.append("\n".join(lines))
        return "\n\n".join(blocks)
    data = part.get_payload(decode=True)
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else ""


def _dsn_blocks(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")):
        fields: dict[str, str] = {}
        last = ""
        for line in chunk.split("\n"):
            if line[:1] in (" ", "\t") and last:
                fields[last] += " " + line.strip()
            elif ":" in line:
                name, _, value = line.partition(":")
                last = name.strip().lower()
                fields.setdefault(last, value.strip())
        if fields:
            blocks.append(fields)
    return blocks


def _dsn_address(value: str) -> str | None:
    value = value.split(";", 1)[-1]
    return _first_email(value)


def _original_message_id(
    tree: _Tree, text: str, headers: _Headers, dsn_blocks: list[dict[str, str]]
) -> str | None:
    found = _returned_message_id(tree, text)
    if found:
        return found
    for block in dsn_blocks:  # Gmail names it in the per-message block
        ids = _msg_ids(block.get("x-original-message-id", ""))
        if ids:
            return ids[0]
    ids = _msg_ids(headers.raw("in-reply-to")) or _msg_ids(headers.raw("references"))
    return ids[-1] if ids else None


def _returned_message_id(tree: _Tree, text: str) -> str | None:
    for part in tree.parts_of_type("message/rfc822", "message/global"):
        payload = _children(part)
        if isinstance(payload, list):
            for inner in payload:
                ids = _msg_ids(str(inner.get("message-id") or ""))
                if ids:
                    return ids[0]
    for part in tree.parts_of_type("text/rfc822-headers", "message/global-headers"):
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            m = _ORIGINAL_MSGID.search(data.decode("utf-8", "replace").replace("\r\n", "\n"))
            if m:
                return m.group(1)
    for part in tree.parts_of_type("text/plain"):
        if tree.is_attachment(part):  # the returned message attached as a text file
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                m = _ORIGINAL_MSGID.search(data.decode("utf-8", "replace")[:_MAX_SCAN])
                if m:
                    return m.group(1)
    m = _ORIGINAL_MSGID.search(text[:_MAX_SCAN])
    return m.group(1) if m else None


def _lines_after(text: str, marker: re.Pattern[str], count: int = 4) -> str:
    m = marker.search(text)
    if not m:
        return ""
    rest = [x for x in text[m.end() :].split("\n") if x.strip()]
    return "\n".join(rest[:count])


_POSTFIX = re.compile(r"this is the mail system at host|i'm sorry to have to inform you", re.I)
_POSTFIX_RCPT = re.compile(
    r"^<([^<>\s]+@[^<>\s]+)>(?:\s*\(expanded from <([^<>\s]+)>\))?:", re.MULTILINE
)
_EXIM = re.compile(
    r"this message was created automatically by mail delivery software|"
    r"could not be delivered to one or more of its recipients|"
    r"has not yet been delivered to one or more of its recipients",
    re.I,
)
_EXIM_RCPT = re.compile(r"following address(?:\(es\)|es)? (?:failed|deferred):", re.I)
_QMAIL = re.compile(r"this is the qmail-send program", re.I)
_QMAIL_RCPT = re.compile(r"^<([^<>\s]+@[^<>\s]+)>:", re.MULTILINE)
_EXCHANGE = re.compile(
    r"delivery has failed to these recipients or groups|"
    r"delivery is delayed to these recipients or groups|"
    r"your message to .{1,200}? couldn't be delivered|remote server returned '",
    re.I | re.S,
)
_EXCHANGE_RCPT = re.compile(
    r"delivery (?:has failed|is delayed) to these recipients or groups:", re.I
)
_EXCHANGE_TO = re.compile(r"your message to\s+(\S{1,200}?)\s+couldn't be delivered", re.I)
_GMAIL = re.compile(
    r"address not found|your message wasn't delivered to|message not delivered|"
    r"delivery incomplete|there was a temporary problem delivering your message|"
    r"delivery to the following recipients? failed permanently|"
    r"delivery status notification",
    re.I,
)
_GMAIL_TO = re.compile(
    r"(?:wasn't delivered to|couldn't be delivered to|temporary problem delivering your "
    r"message to|failed permanently:)\s+(\S{1,200})",
    re.I,
)


def _text_bounce(
    text: str, exclude: list[str], require_text: bool
) -> tuple[str, str | None, str] | None:
    """Recognise a human-readable failure report: (format, failed address, report text)."""
    report = _report_section(text[:_MAX_SCAN])
    head = report[:5000]
    if _QMAIL.search(head):
        m = _QMAIL_RCPT.search(report)
        return "qmail", m.group(1).lower() if m else _first_email(report, exclude), report
    if _EXIM.search(head):
        addr = _first_email(_lines_after(report, _EXIM_RCPT, 2), exclude)
        return "exim", addr or _generic_failed(report, exclude), report
    if _POSTFIX.search(head):
        m = _POSTFIX_RCPT.search(report)
        addr = (m.group(2) or m.group(1)).lower() if m else _generic_failed(report, exclude)
        return "postfix", addr, report
    if _EXCHANGE.search(head):
        addr = _first_email(_lines_after(report, _EXCHANGE_RCPT, 3), exclude)
        if not addr:
            m = _EXCHANGE_TO.search(report)
            addr = _first_email(m.group(1), exclude) if m else None
        return "exchange", addr or _generic_failed(report, exclude), report
    if _GMAIL.search(head):
        m = _GMAIL_TO.search(report)
        addr = _first_email(m.group(1), exclude) if m else None
        return "gmail", addr or _generic_failed(report, exclude), report
    if require_text:
        return None
    return "generic", _generic_failed(report, exclude), report


def _generic_failed(report: str, exclude: list[str]) -> str | None:
    m = re.search(
        r"(?:final|original)-recipient:\s*(?:rfc822;)?\s*<?([^\s<>;]+@[^\s<>;]+)", report, re.I
    )
    if m:
        return m.group(1).rstrip(".").lower()
    lines = report.split("\n")
    for i, line in enumerate(lines[:400]):
        if _FAILURE_WORDS.search(line):
            found = _first_email("\n".join(lines[i : i + 3]), exclude)
            if found:
                return found
    return _first_email(report, exclude)


def _find_bounce(
    tree: _Tree,
    headers: _Headers,
    text: str,
    from_addr: str | None,
    subject: str,
    signals: list[str],
    defects: _Defects,
) -> tuple[BounceReport | None, str, bool]:
    """(report, evidence, whether this is a delivery-status report of success)."""
    exclude = [a for a in (from_addr,) if a] + list(_recipients(headers))  # never our own
    dsn_parts = list(
        tree.parts_of_type("message/delivery-status", "message/global-delivery-status")
    )
    if dsn_parts:
        blocks = [b for part in dsn_parts for b in _dsn_blocks(_dsn_text(part))]
        recipients = [b for b in blocks if "final-recipient" in b or "original-recipient" in b]
        chosen = next(
            (b for b in recipients if b.get("action", "").lower().startswith("failed")), None
        )
        chosen = chosen or next(
            (b for b in recipients if b.get("action", "").lower().startswith("delayed")), None
        )
        if (
            chosen is None
            and recipients
            and all(
                b.get("action", "").lower().startswith(("delivered", "relayed", "expanded"))
                for b in recipients
            )
        ):
            return None, "", True
        chosen = chosen or (recipients[0] if recipients else None)
        if chosen is not None:
            diagnostic = chosen.get("diagnostic-code", "")
            if ";" in diagnostic[:20]:
                diagnostic = diagnostic.split(";", 1)[1]
            diagnostic = " ".join(diagnostic.split())[:300] or None
            status_m = _STATUS.search(chosen.get("status", "")) or _STATUS.search(diagnostic or "")
            status = status_m.group(0) if status_m else None
            address = _dsn_address(chosen.get("original-recipient", "")) or _dsn_address(
                chosen.get("final-recipient", "")
            )
            report = _report_section(text)
            if address is None:
                address = _generic_failed(report, exclude)
            if diagnostic is None:
                diagnostic = _status_in(report)[1]
            action = chosen.get("action", "")
            evidence = "Content-Type: multipart/report; report-type=delivery-status"
            if not tree.has_report("delivery-status"):
                evidence = "message/delivery-status part"
            bounce = BounceReport(
                failed_address=address,
                original_message_id=_original_message_id(tree, text, headers, blocks),
                status=status,
                permanent=_permanent(action, status, report),
                diagnostic=diagnostic,
                format="rfc3464",
            )
            return bounce, f"{evidence} (Action: {action or 'none'})", False
        defects.add("delivery-status part without a recipient block")

    bounce_subject = _BOUNCE_SUBJECT.match(subject) is not None
    daemon = _is_daemon(from_addr)
    if not (signals or bounce_subject):
        return None, "", False
    found = _text_bounce(text, exclude, require_text=not (daemon and bounce_subject))
    if found is None:
        return None, "", False
    fmt, address, report = found
    failed_header = _first_email(headers.raw("x-failed-recipients"))  # Exim, Gmail
    address = failed_header or address
    status, line = _status_in(report)
    evidence_parts = [f"{fmt} delivery failure text"]
    if bounce_subject:
        evidence_parts.append(f"Subject: {subject[:80]}")
    evidence_parts.extend(signals)
    bounce = BounceReport(
        failed_address=address,
        original_message_id=_original_message_id(tree, text, headers, []),
        status=status,
        permanent=_permanent("", status, report),
        diagnostic=line,
        format=fmt,
    )
    return bounce, "; ".join(evidence_parts), False
