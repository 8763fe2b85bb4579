"""The LLM engine: a model reads replies and writes reminders; plain code keeps it honest.

The model proposes, deterministic code acts:

- **Classifying a reply.** The customer's email reaches the model as delimited data
  (``prompts/v1/llm/classify.*.j2``), never as instructions, and the model has no tool.
  Its answer is a pydantic object. The offline rules read the same email; for the
  safety-critical intents (dispute, paid, unsubscribe, bounce) a disagreement between
  the two, or a low confidence, hands the account to a person rather than to the more
  aggressive reading (``Classification.hand_to_person``). Words addressed to the agent
  that the offline rules set aside keep the email with a person, whatever the model
  says. A refusal, a cut-off or unparsable answer, or an unavailable endpoint falls
  back to the offline classification for that email, and says so.
- **Drafting a reminder.** The model writes subject and body from the ledger's facts
  only (``prompts/v1/llm/draft.*.j2``); the verify step checks every invoice number,
  amount, date and link against the ledger, and refuses fees, legal threats and
  promises the company did not make. A failing draft is retried once with the
  problems named, then replaced by the offline template; the decision's reason says so.

Retries of transient failures live in one layer only: the SDK's (``tools.llm_client``).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel, Field

from agent.classification import INTENTS, Classification, Intent, QuestionTopic, ReplyText
from agent.offline_classifier import classify_offline
from agent.policy import allowed_tones
from agent.snapshot import AccountSnapshot, Decision, Tone
from agent.verify import verify_draft
from prompts import PROMPTS_DIR
from tools import drafting
from tools.llm_client import LlmClient, LlmError

PROMPT_VERSION = "llm-v1"
SAFETY_CRITICAL: frozenset[str] = frozenset({"dispute", "paid", "unsubscribe", "bounce"})
MIN_CONFIDENCE = 0.6
_ENV = Environment(
    loader=FileSystemLoader(str(PROMPTS_DIR)),
    undefined=StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
)
_LANGUAGES = {"en": "English", "de": "German (formal Sie)"}
_FORBIDDEN = re.compile(
    r"\b(?:late fees?|interest charges?|penalt(?:y|ies)|legal action|lawyer|attorney|court|"
    r"lawsuit|sue\b|collection agency|debt collector|credit (?:bureau|report)|"
    r"Mahngebühr|Verzugszinsen|Inkasso|Anwalt|rechtliche Schritte|Gericht|"
    r"discount|extension|Rabatt|Skonto|Stundung)",
    re.IGNORECASE,
)


class ModelClassification(BaseModel):
    """What the model is asked to return for a reply."""

    intent: Intent
    confidence: float = Field(ge=0, le=1)
    promise_date: date | None = None
    promise_amount: Decimal | None = None
    return_date: date | None = None
    invoices: list[str] = Field(default_factory=list)
    question_topic: QuestionTopic | None = None
    new_contact: str | None = None
    evidence: str = ""


class ModelDraft(BaseModel):
    """What the model is asked to return for a reminder."""

    tone: Tone
    """One of the tones the policy allows for this message (it says which)."""
    tone_reason: str = ""
    subject: str
    body: str
    facts_cited: list[str] = Field(default_factory=list)


@dataclass
class Usage:
    """What the engine spent in a run: calls, tokens, and why it fell back."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    fallbacks: list[str] = field(default_factory=list)


class LlmEngine:
    """Classification and drafting through an OpenAI-compatible endpoint, guarded."""

    name = "llm"

    def __init__(self, client: LlmClient, model: str) -> None:
        self.client = client
        self.model = model
        self.usage = Usage()
        self._lock = threading.Lock()
        self._local = threading.local()

    # ------------------------------------------------------------------ replies

    def classify(self, reply: ReplyText) -> Classification:
        offline = classify_offline(reply)
        sent = reply.sent_at.date()
        messages = [
            {
                "role": "system",
                "content": _render(
                    "classify.system", sent_on=sent.isoformat(), sent_weekday=f"{sent:%A}"
                ),
            },
            {
                "role": "user",
                "content": _render(
                    "classify.user",
                    invoices=", ".join(reply.known_invoices),
                    automatic=reply.automatic or "",
                    subject=reply.subject[:300],
                    text=_fence(reply.text)[:6000],
                ),
            },
        ]
        try:
            result = self.client.structured(messages, ModelClassification, name="classification")
        except LlmError as exc:
            with self._lock:
                self.usage.fallbacks.append(f"classify: {exc}")
            return offline.model_copy(
                update={"engine": f"offline (the model failed: {_short(exc)})"}
            )
        self._count(result)
        proposed: ModelClassification = result.parsed
        known = {n.upper(): n for n in reply.known_invoices}
        invoices = [known[n.upper()] for n in proposed.invoices if n.upper() in known]
        model = Classification(
            intent=proposed.intent,
            confidence=proposed.confidence,
            promise_date=proposed.promise_date,
            promise_amount=proposed.promise_amount,
            return_date=proposed.return_date,
            invoices=invoices or offline.invoices,
            question_topic=proposed.question_topic,
            new_contact=proposed.new_contact,
            evidence=proposed.evidence[:300],
            engine=f"llm:{result.model}",
            suspicious=offline.suspicious,
        )
        return guard_classification(model, offline)

    # ------------------------------------------------------------------ reminders

    def draft(
        self, snapshot: AccountSnapshot, decision: Decision, today: date, company: str
    ) -> tuple[drafting.Draft, str | None, Tone]:
        """A verified draft, a note for the log (the tone the model chose within the
        policy's bounds and why, or that the offline template replaced its draft), and the
        tone the message carries."""
        facts = drafting.facts(snapshot, decision, today)
        allowed = allowed_tones(decision.stage, decision.tone)  # type: ignore[arg-type]
        language = facts["language"]
        problems: list[str] = []
        for _attempt in range(2):
            messages = [
                {
                    "role": "system",
                    "content": _render(
                        "draft.system",
                        company=company,
                        language_name=_LANGUAGES.get(language, "English"),
                        stage=decision.stage,
                        tones=", ".join(allowed),
                    ),
                },
                {"role": "user", "content": _render("draft.user", problems=problems, **facts)},
            ]
            try:
                result = self.client.structured(messages, ModelDraft, name="reminder")
            except LlmError as exc:
                note = f"the model's draft failed ({_short(exc)}): the offline template was sent"
                break
            self._count(result)
            written = drafting.Draft(
                subject=result.parsed.subject.strip(),
                body=result.parsed.body.strip() + "\n",
                language=language,
                template=f"{PROMPT_VERSION}/{result.model}",
                invoices=tuple(decision.invoices),
            )
            problems = verify_draft(written, snapshot, decision, today) + forbidden(written)
            chosen = result.parsed.tone
            if chosen not in allowed:
                problems.append(f"the tone {chosen} is not one of {', '.join(allowed)}")
            if not problems:
                if chosen == decision.tone:
                    return written, None, chosen
                why = " ".join(result.parsed.tone_reason.split())[:200]
                note = f"the model chose the {chosen} tone ({why or 'no reason given'})"
                return written, note, chosen
        else:
            note = (
                "the model's draft failed verification twice ("
                + "; ".join(problems[:3])
                + "): the offline template was sent"
            )
        with self._lock:
            self.usage.fallbacks.append(note)
        template = drafting.draft_message(snapshot, decision, today, company)
        return template, note, decision.tone  # type: ignore[return-value]

    def _count(self, result: Any) -> None:
        prompt, completion = result.prompt_tokens or 0, result.completion_tokens or 0
        with self._lock:
            self.usage.calls += 1
            self.usage.prompt_tokens += prompt
            self.usage.completion_tokens += completion
        mine = self._mine()
        mine["llm_calls"] += 1
        mine["prompt_tokens"] += prompt
        mine["completion_tokens"] += completion
        mine["model"] = result.model

    def _mine(self) -> dict[str, Any]:
        if not hasattr(self._local, "usage"):
            self._local.usage = {
                "llm_calls": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "model": None,
            }
        return self._local.usage

    def take_usage(self) -> dict[str, Any]:
        """What this thread spent since it last asked: the decision log records it with
        the decision it served (calls, tokens, model, prompt version). Calls for several
        accounts run in threads at once, so the count is kept per thread."""
        mine = self._mine()
        del self._local.usage
        return {**mine, "prompt_version": PROMPT_VERSION if mine["llm_calls"] else None}


def guard_classification(model: Classification, offline: Classification) -> Classification:
    """Plain code over the model's reading: a safety-critical intent the rules do not
    share, or a low confidence, goes to a person; set-aside instructions stay with one."""
    why = None
    critical = {model.intent, offline.intent} & SAFETY_CRITICAL
    if critical and model.intent != offline.intent:
        why = f"the model read {model.intent} and the rules read {offline.intent}: a person decides"
    elif model.intent != "other" and model.confidence < MIN_CONFIDENCE:
        why = f"the model read {model.intent} with confidence {model.confidence:.2f}"
    if why is None:
        return model
    return model.model_copy(update={"hand_to_person": why})


def forbidden(draft: drafting.Draft) -> list[str]:
    """What the policy never lets a message say: fees, legal steps, promises."""
    found = _FORBIDDEN.findall(f"{draft.subject}\n{draft.body}")
    return [f"the draft mentions {word!r}, which the policy does not allow" for word in found]


def _render(template: str, **context: Any) -> str:
    return _ENV.get_template(f"v1/llm/{template}.j2").render(**context).strip()


def _fence(text: str) -> str:
    """The customer's text with anything that looks like our data markers defused."""
    return text.replace("<<<", "‹‹‹").replace(">>>", "›››")


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160]


__all__ = ["INTENTS", "LlmEngine", "guard_classification", "forbidden"]
