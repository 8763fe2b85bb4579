"""Labeled eval cases: the format of ``shared/eval-cases.md``, loaded and validated.

``load_cases(paths)`` reads every ``*.yaml``/``*.yml`` file under the given files and
directories (recursively), validates each case against the format (an unknown
field, a missing required field, a value outside a vocabulary or a duplicate id is
an error naming the file and the case id), and returns them all, or raises
``CaseError`` listing every problem before any case is scored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from agent.classification import INTENTS, Intent
from agent.reply_policy import REPLY_ACTIONS, ReplyAction
from agent.snapshot import ACTIONS, FLAGS, STAGES, TONES, Action, Stage, Tone


class CaseError(Exception):
    """The cases could not be loaded; the message names every file and case id."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseAccount(_Strict):
    id: str
    name: str | None = None
    email: str | None = None
    timezone: str | None = None
    flags: list[Literal["human_flagged", "opted_out", "credit_hold"]] = Field(default_factory=list)
    history: list[HistoryInvoice] = Field(default_factory=list)


class HistoryInvoice(_Strict):
    number: str
    amount: Decimal
    due_date: date
    paid_date: date
    currency: str | None = None
    issue_date: date | None = None


class CaseInvoice(_Strict):
    number: str
    amount: Decimal
    currency: str = "USD"
    issue_date: date | None = None
    due_date: date
    balance: Decimal | None = None


class CaseEmail(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    raw: str | None = None
    from_: str | None = Field(None, alias="from")
    to: str | None = None
    subject: str | None = None
    date: datetime | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None

    @field_validator("date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("the email date needs a time zone offset, e.g. +00:00")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> CaseEmail:
        if self.raw is None and (self.from_ is None or self.body is None):
            raise ValueError("email needs either raw, or at least from and body")
        if self.raw is not None and any(
            v is not None for v in (self.from_, self.to, self.subject, self.date, self.body)
        ):
            raise ValueError("email has raw and parts: give one or the other")
        return self


class ReplyExpect(_Strict):
    intent: Intent
    action: ReplyAction | None = None
    promise_date: date | None = None
    promise_amount: Decimal | None = None
    return_date: date | None = None
    invoices: list[str] | None = None


class ReplyCase(_Strict):
    id: str
    kind: Literal["reply"]
    note: str | None = None
    tags: list[str] = Field(default_factory=list)
    today: date | None = None
    account: CaseAccount | None = None
    invoices: list[CaseInvoice] = Field(default_factory=list)
    email: CaseEmail
    expect: ReplyExpect


class Event(_Strict):
    date: date
    type: Literal["sent", "reply", "payment", "flag", "unflag", "resolved"]
    stage: Stage | None = None
    invoices: list[str] | None = None
    intent: Intent | None = None
    action: ReplyAction | None = None
    promise_date: date | None = None
    promise_amount: Decimal | None = None
    return_date: date | None = None
    invoice: str | None = None
    amount: Decimal | None = None
    reason: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Event:
        if self.type == "sent" and (self.stage is None or not self.invoices):
            raise ValueError("a sent event needs stage and invoices")
        if self.type == "reply" and self.intent is None:
            raise ValueError("a reply event needs intent")
        if self.type == "payment" and (self.invoice is None or self.amount is None):
            raise ValueError("a payment event needs invoice and amount")
        return self


class DecisionExpect(_Strict):
    action: Action
    stage: Stage | None = None
    tone: Tone | None = None
    invoices: list[str] | None = None
    forbid: list[Action | Stage] = Field(default_factory=list)


class DecisionCase(_Strict):
    id: str
    kind: Literal["decision"]
    note: str | None = None
    tags: list[str] = Field(default_factory=list)
    today: date
    account: CaseAccount
    invoices: list[CaseInvoice]
    events: list[Event] = Field(default_factory=list)
    expect: DecisionExpect


Case = Annotated[ReplyCase | DecisionCase, Field(discriminator="kind")]
CaseAccount.model_rebuild()


class _File(BaseModel):
    cases: list[Case]


def _field(loc: tuple[Any, ...]) -> str:
    """``expect.intent``, ``invoices[2].due_date``: where in a case an error is."""
    parts = list(loc)[2:]
    if parts and parts[0] in ("reply", "decision"):
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "case"


def case_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        elif path.is_file():
            files.append(path)
        else:
            raise CaseError(f"{path}: no such file or directory")
    return files


def load_cases(paths: Iterable[str | Path]) -> list[tuple[Path, ReplyCase | DecisionCase]]:
    """Every case under ``paths``, validated; ``CaseError`` names every problem."""
    problems: list[str] = []
    loaded: list[tuple[Path, ReplyCase | DecisionCase]] = []
    seen: dict[str, Path] = {}
    files = case_files(paths)
    if not files:
        raise CaseError("no case files (*.yaml, *.yml) found")
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError) as exc:  # ValueError: 2026-13-01
            problems.append(f"{path}: not readable YAML: {exc}")
            continue
        if data is None:
            continue
        if not isinstance(data, list):
            problems.append(f"{path}: a case file holds a list of cases")
            continue
        for index, item in enumerate(data):
            case_id = item.get("id") if isinstance(item, dict) else None
            where = f"{path}: case {case_id!r}" if case_id else f"{path}: case #{index + 1}"
            try:
                case = _File.model_validate({"cases": [item]}).cases[0]
            except ValidationError as exc:
                for error in exc.errors():
                    problems.append(f"{where}: {_field(error['loc'])}: {error['msg']}")
                continue
            if case.id in seen:
                problems.append(f"{where}: duplicate id (also in {seen[case.id]})")
                continue
            seen[case.id] = path
            loaded.append((path, case))
    if problems:
        raise CaseError("invalid cases:\n  " + "\n  ".join(problems))
    return loaded


__all__ = [
    "ACTIONS",
    "FLAGS",
    "INTENTS",
    "REPLY_ACTIONS",
    "STAGES",
    "TONES",
    "CaseError",
    "DecisionCase",
    "ReplyCase",
    "load_cases",
]
