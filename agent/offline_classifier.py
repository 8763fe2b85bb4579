"""The offline classifier: what a reply says, by rules, in English and German.

``classify_offline(reply)`` is pure and deterministic (no IO, no model): it reads
the new text of a reply (quotes and signature already removed by the parser) and
its subject, and returns a ``Classification`` with the intent of
``shared/eval-cases.md`` and what goes with it (promised date and amount, return
date, question topic, redirect address, the invoices named, a confidence and the
words that decided it).

How it decides:

1. What the headers said first: a bounce is a bounce; an absence notice is an
   out-of-office (return date from its text) unless its text says the person has left
   ("X is no longer with us, contact ap@..."): that is ``wrong_contact``; other
   automatic mail is ``other`` unless it is remittance advice (``paid``).
2. Sentences that address the agent instead of a person ("ignore previous
   instructions", "SYSTEM:", "mark all invoices as paid") are set aside and the
   classification is marked ``suspicious``: the reply policy then hands the email
   to a person. Such words never count as the customer's intent.
3. Phrase rules score each intent, skipping phrases under a negation ("we have
   NOT paid", "we do not dispute"). The tie-breaks of ``shared/eval-cases.md``
   then pick the intent that decides what happens next: a redirect beats an
   opt-out; a dispute beats a promise that depends on it; remittance advice with
   a question is ``paid``; instalments asked for without a firm commitment are a
   ``payment_plan``; a firm promise with a date beats a question.
4. Smaller rules the labelled replies taught: a promise without a date does not beat a
   redirect ("send invoices to ap@..., they will process them"); an opt-out for a while
   ("bis dahin keine Mahnungen", "no reminders until then") or a marketing footer
   ("unsubscribe from these offers") is no opt-out; an opt-out in an email that also
   addresses the agent is part of those instructions (``other``); a one-word reply
   under a reminder ("paid", "STOP", "Remove") answers it; "undeliverable" in a
   question about where to send things is not a bounce; the promised date is the one in
   the sentence that commits ("away this week. I'll pay when I'm back, Monday the
   23rd").

Dates come from ``agent.reply_dates`` (relative dates against the email's date).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from agent import reply_dates
from agent.classification import Classification, QuestionTopic, ReplyText

ENGINE = "offline"


def _rx(*patterns: str) -> re.Pattern[str]:
    """One case-insensitive pattern of many alternatives. Runs of alternatives that start
    a word (``\\b`` then a letter) share one test ``\\bX|\\bY`` = ``\\b(?=\\w)(?:X|Y)``,
    order kept: the regex engine then passes over every position that is not the start of
    a word at once instead of trying each alternative there, which keeps a scan cheap
    however many phrasings a rule lists."""
    runs: list[tuple[bool, list[str]]] = []
    for alternative in (a for p in patterns for a in _top_level_alternatives(p)):
        bounded = alternative.startswith("\\b") and _starts_a_word(alternative[2:])
        if bounded and runs and runs[-1][0]:
            runs[-1][1].append(alternative[2:])
        elif bounded:
            runs.append((True, [alternative[2:]]))
        else:
            runs.append((False, [alternative]))
    parts = [
        ("\\b(?=\\w)(?:" if bounded else "(?:") + "|".join(f"(?:{a})" for a in alts) + ")"
        for bounded, alts in runs
    ]
    return re.compile("|".join(parts), re.IGNORECASE)


def _starts_a_word(pattern: str) -> bool:
    """Whatever ``pattern`` matches begins with a letter or digit (a conservative reading
    of its text: a letter, or a group whose alternatives all do, optional only when what
    follows does too)."""
    if not pattern:
        return False
    if pattern[0].isalnum():
        return pattern[1:2] not in ("?", "*", "{")
    if not pattern.startswith("(?:"):
        return False
    depth, i = 0, 0
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "[":
            return False  # a character class inside: not worth reading
        depth += {"(": 1, ")": -1}.get(pattern[i], 0)
        if depth == 0:
            break
        i += 1
    inner, rest = pattern[3:i], pattern[i + 1 :]
    if not all(_starts_a_word(a) for a in _top_level_alternatives(inner)):
        return False
    if rest[:1] in ("?", "*") or rest.startswith("{0"):
        return _starts_a_word(rest[1:].lstrip("?+") if rest[:1] in "?*" else "")
    return True


def _top_level_alternatives(pattern: str) -> list[str]:
    """``pattern`` split at its ``|`` outside groups and character classes."""
    parts: list[str] = []
    depth, start, i, in_class = 0, 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


# --------------------------------------------------------------------------- the rules

_INJECTION = _rx(
    r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}\b(?:instructions?|prompts?|rules|"
    r"guidelines|directives)\b",
    r"(?:^|\n|[.!?]\s)\s*(?:system|assistant|developer|admin|root)\s*(?:prompt|message|note)?\s*:",
    r"\b(?:you are|act as|pretend to be|as)\s+(?:now\s+)?(?:an?\s+|the\s+)?(?:ai|assistant|"
    r"language model|llm|chatbot|bot|agent)\b",
    r"\bnew instructions?\b",
    r"\b(?:ai|llm|gpt)[\s-]+(?:agent|assistant|model|system|bot)s?\b",
    r"\b(?:dear|hey|hi|hello|note to|attention)\s+(?:the\s+)?(?:ai|llm|bot|chatbot|"
    r"language model)\b",
    r"\b(?:an\s+die|liebe|hallo)\s+ki\b",
    r"\bmark\b[^.\n]{0,40}\bas\s+(?:paid|settled|closed)\b",
    r"\bset\s+(?:the\s+)?(?:intent|status|classification|label)\b",
    r"\b(?:delete|wipe|erase)\b[^.\n]{0,30}\b(?:account|records?|invoices?|data)\b",
    r"\bignorier\w*\b[^.\n]{0,40}\banweisung",
    r"\bmarkier\w*\b[^.\n]{0,40}\bals\s+(?:bezahlt|beglichen)\b",
    r"<\|?(?:im_start|system|endoftext)",
    r"\b(?:you\s+are\s+now\s+in|enter(?:ing)?)\s+(?:\w+\s+)?mode\b",
    r"\b(?:full|complete|entire)\s+list\s+of\s+(?:all\s+)?(?:your\s+|the\s+)?(?:customers?|"
    r"clients?|"
    r"accounts?|customer\s+accounts?|debtors?)\b",
    r"\b(?:für|an)\s+(?:den|die|das)\s+ki\b|\bki-(?:assistent|agent|system|modell)\w*",
    r"\b(?:anweisung|instruction)\w*\s+(?:hat|has|takes?)\s+(?:vorrang|priority|precedence)\b",
    r"\b(?:nicht|not|never)\b[^.\n]{0,30}\b(?:an\s+einen\s+menschen|to\s+a\s+(?:human|person))\b",
)

_NEGATION = re.compile(
    r"\b(?:not|never|no|cannot|can't|cant|won't|wont|didn't|didnt|don't|dont|doesn't|haven't|"
    r"havent|hasn't|hasnt|isn't|wasn't|aren't|nicht|nie|niemals|kein|keine|"
    r"keinen)\b[^.;,\n]{0,25}$",
    re.IGNORECASE,
)

_PAID = _rx(
    r"\b(?:already|alredy|allready|just)\s+(?:been\s+)?(?:paid|payed|settled|transferred|wired|"
    r"remitted|sent (?:the )?(?:payment|money|funds))\b",
    r"\b(?:we|i)\s*(?:have|'ve|had)?\s+(?:already\s+)?(?:paid|payed|settled|transferred|wired|"
    r"remitted)\b",
    r"\b(?:payment|transfer|wire|remittance|cheque|check)\s+(?:was|has been|had been|went|"
    r"is already)\s+(?:already\s+)?(?:made|sent|processed|released|issued|executed|initiated|"
    r"completed|transferred|remitted|out|mailed|posted|paid|scheduled and sent)\b",
    r"\b(?:remittance|payment)\s+advice\b",
    r"\bproof of payment\b",
    r"\b(?:transfer|payment|wire)\s+confirmation\b",
    r"(?<!\bbe\s)\bpaid\s+(?:on|yesterday|last|this morning|today|via|in (?:full|a single|one)|"
    r"by (?:bank|card|check|cheque|wire|ach|bacs|sepa|eft|direct debit|credit card|transfer))",
    # "Check #10442 for $742.60 was mailed on 2/27"
    r"\b(?:check|cheque|payment|transfer|wire)\b(?:[^.?!\n]|\.(?=\d)|(?<=\bno)\.){0,40}?"
    r"\b(?:was|has been|"
    r"had been|went)\s+"
    r"(?:already\s+)?(?:made|sent|mailed|posted|processed|released|issued|executed|initiated|"
    r"completed|transferred|remitted|out)\b",
    r"\b(?:has|have)\s+sent\s+(?:you\s+)?(?:a|the|your)\s+payment\b",
    r"\b(?:we|i)\s*(?:'ve|have|had)?\s+(?:already\s+)?(?:made|sent|initiated)\s+(?:the|a|our|both|"
    r"two|all|\w+)?\s*(?:payments?|transfers?|wires?)\b(?!\s+(?:plan|arrangement|schedule|request|"
    r"link|proposal))",
    r"\balready\s+(?:done|taken care of|sorted|handled|settled|cleared)\b(?!\s+(?:the|that|this|"
    r"it|with|for)\b)",
    r"\bpayment\b(?:[^.?!\n]|\.(?=\d)){0,40}\b(?:leaving|left|debited from|taken from|"
    r"came out of)\s+(?:our|my)\s+"
    r"(?:bank\s+)?account\b",
    r"\b(?:check|cheque)\s+is\s+in\s+the\s+(?:mail|post)\b",
    r"\b(?:it|this|the invoice|this invoice|that|invoice \S+|(?:the\s+|all\s+|both\s+)?(?:\w+\s+)?"
    r"invoices|(?:inv|re|rg|bill)[-_ #]?\d[\w/-]*)\s+(?:was|were|has been|have been|is|are)\s+"
    r"(?:already\s+|all\s+|both\s+)*(?:paid|settled)\b(?!\s+(?:once|when|after|as soon))",
    r"\b(?:bereits|schon|gestern|heute|letzte woche)\s+(?:\w+\s+){0,3}(?:bezahlt|überwiesen|"
    r"ueberwiesen|beglichen|ausgeglichen)\b",
    r"\b(?:haben|habe|hatten|wurde|wurden|ist)\b(?:(?!\b(?:nicht|nie|kein\w*)\b)(?:[^.?!\n]|"
    r"(?<=\d)\.)){0,60}\b(?:bezahlt|überwiesen|ueberwiesen|beglichen|angewiesen|abgebucht|"
    r"eingezogen)"
    r"\b(?!\s+werden)",
    r"\bzahlung\s+(?:ist|wurde)\s+(?:bereits\s+|schon\s+)?(?:erfolgt|veranlasst|ausgeführt|"
    r"angewiesen|raus)\b",
    r"\bzahlungsavis\b",
    r"\bzahlungsbestätigung\b",
)
_REMITTANCE_FILE = re.compile(r"remit|avis|payment|zahlung|proof|überweisung", re.IGNORECASE)

_PROMISE = _rx(
    r"\b(?:we|i|they|our (?:ap|accounts payable|finance) (?:team|department))\s*(?:'ll|will|"
    r"shall|are going to|'re going to|re going to|plan to|intend to|aim to|expect to|hope to|"
    r"should be able to|can|could|'d|would)\s+(?:\w+\s+){0,2}(?:pay|settle|transfer|wire|remit|"
    r"release|clear|process|send (?:the |you )?(?:payment|money|funds|it|a check|a cheque)|"
    r"make (?:the |a )?payment|get (?:this|it|the invoice|that) paid)\b",
    r"(?:^|(?<=[.!?\n])\s*|(?<=\band\s)|(?<=\bbut\s)|(?<=\bthen\s)|(?<=\bso\s))(?:will|shall)\s+"
    r"(?:(?!you\b)\w+\s+)?(?:pay|settle|transfer|wire|remit|send (?:the )?payment)\b",
    r"\b(?:payment|transfer|wire|check|cheque|it|this|that|they|the invoices?|invoices|the balance|"
    r"the rest|the remainder|(?:inv|re|rg|bill)[-_ #]?\d[\w/-]*)(?:\s+(?:will|should|shall|"
    r"is going to|"
    r"is scheduled to|is due to|is set to)|'ll)\s+(?:both\s+|all\s+)?(?:be\s+)?"
    r"(?:made|sent|mailed|posted|processed|paid|settled|released|issued|transferred|go(?:ing)? out|"
    r"go (?:in|into) the (?:mail|post)|out|scheduled|reach you|arrive)\b",
    # "It's approved and going out Thursday"
    r"\b(?:it|payment|the payment|the check|the cheque|the transfer)(?:'s|"
    r"\s+is)\s+(?:(?:\w+\s+){1,2}and\s+)?"
    r"(?:going out|being (?:sent|paid|processed|released))\b",
    # "We'll have this cleared by end of next week", "We can do $2,000 by March 31"
    r"\b(?:we|i)\s*(?:'ll|will|should|can|could)\s+(?:\w+\s+)?have\s+(?:this|it|that|the invoice|"
    r"the balance|\w+-\d+)\s+(?:cleared|paid|settled|sorted|taken care of)\b",
    r"\b(?:we|i)\s*(?:'ll|will|can|could)\s+(?:do|manage|send|"
    r"transfer)\s+(?:you\s+)?(?:[$€£]\s?\d|\d[\d.,]*"
    r"\s?(?:€|eur\b|usd\b|gbp\b|dollars?\b|euros?\b))",
    r"\b(?:scheduled|queued|approved|set up)\s+(?:it\s+|this\s+)?(?:for|in)\s+(?:payment|the next|"
    r"our next|next)",
    r"\b(?:next|this week's|next week's|our|the)\s+(?:[\w/.,-]+\s+){0,3}?(?:payment|check|cheque|"
    r"pay)\s+"
    r"run\b",
    r"\bin\s+(?:our|the)\s+next\s+(?:payment\s+)?(?:run|batch|cycle)\b",
    r"\byou(?:'ll| will)\s+(?:have|receive|get|see)\s+(?:the\s+)?(?:payment|funds|money|it)\b",
    r"\b(?:wir|ich)\s+(?:werden|werde)\b[^.?!\n]{0,60}\b(?:zahlen|bezahlen|überweisen|"
    r"ueberwiesen|begleichen|anweisen|ausgleichen)\b",
    r"\b(?:wir|ich)\s+(?:zahlen|bezahlen|überweisen|ueberweisen|begleichen|überweise|zahle)\b",
    r"\b(?:zahlen|bezahlen|überweisen|begleichen|überweise|zahle)\s+(?:wir|ich)\b",
    r"\b(?:wird|werden)\b(?:[^.?!\n]|(?<=\d)\.){0,50}\b(?:bezahlt|überwiesen|ueberwiesen|beglichen|"
    r"angewiesen)(?:\s+werden)?\b",
    r"\bzahlung\s+(?:erfolgt|geht|kommt)\b",
    r"\b(?:im\s+)?(?:nächsten|naechsten|kommenden)\s+zahllauf\b",
)

_DISPUTE = _rx(
    r"\b(?:amount|price|total|charge|rate|invoice|bill|quantity)\s+(?:is|was|looks|seems)\s+"
    r"(?:\w+\s+)?(?:wrong|incorrect|not correct|too high|off|inflated)\b",
    r"\b(?:wrong|incorrect)\s+(?:amount|price|total|charge|rate|invoice|quantity|vat|tax)\b",
    r"\bover[\s-]?(?:charged|billed|invoiced)\b",
    r"\b(?:fix|correct|amend|adjust|revise)\s+(?:the\s+|this\s+|your\s+)?(?:amount|price|total|"
    r"error|mistake|quantity|figures?|invoice(?!\s+(?:address|name|details|recipient|po|"
    r"reference|number)))\b",
    r"\b(?:corrected|revised|amended|pro-?rat(?:ed|a))\s+(?:invoices?|bills?|amount|credit)\b",
    r"\b(?:this|that|it)\s+(?:one\s+)?(?:is|was|'s)\s+(?:wrong|incorrect|not right)\b",
    r"\b(?:is|was|looks like|seems to be)\s+(?:a\s+|an?\s+exact\s+)?duplicate\b",
    r"\bvoid\s+(?:the\s+|this\s+|that\s+|one\s+|(?:inv|re|rg|bill)[-_ #]?\d|invoice\b)",
    r"\bshould\s*(?:not|n't)\s+(?:have\s+)?be(?:en)?\s+(?:billed|charged|invoiced)\b",
    r"\b(?:should|must)\s+(?:have\s+)?be(?:en)?\s+(?:billed|charged|invoiced)\s+(?:at|under|as|"
    r"for|without|"
    r"with no|net of)\b",
    r"\b(?:visit|service|work|job|repair|installation|appointment|call-out|delivery)\s+never\s+"
    r"(?:happened|took place|occurred|came|showed)\b",
    r"\b(?:never|didn't|did not|have not|haven't)\s+(?:ever\s+)?(?:ordered|agreed|asked for|"
    r"signed)\b",
    r"\bno\s+record\s+of\s+(?:receiving|receipt\s+of|ordering|delivery\s+of)\s+(?!(?:the\s+|"
    r"this\s+|"
    r"that\s+|your\s+|an?\s+|any\s+)?(?:invoice|bill|statement|e-?mail|reminder|letter))",
    r"\b(?:goods|items|parts|products|materials|equipment)\s+(?:that\s+)?(?:we|i)\s+(?:haven't|"
    r"have not|"
    r"never|didn't|did not)\s+(?:received|ordered|got)\b",
    r"\b(?:wasn't|was not|isn't|is not|weren't|were not|not)\s+(?:on|in|part of)\s+(?:the|our|"
    r"your)\s+"
    r"(?:quote|quotation|order|contract|agreement|estimate|purchase order|po)\b",
    r"\b(?:charge|fee|invoice|amount|bill|price|total)\s+(?:to\s+be\s+|be\s+)?(?:reduced|credited|"
    r"waived|written off|removed)\b",
    r"\b(?:rejected|rejecting)\s+(?:it|the invoice|this invoice|your invoice)\b|\binvoice\s+"
    r"(?:was|has been|got)\s+rejected\b",
    r"\b(?:cancel|withdraw)\s+(?:the\s+|this\s+)?(?:invoice|(?:inv|re|rg|bill)[-_ #]?\d[\w/-]*)\b"
    r"[^.?!\n]{0,30}\bre-?issue\b",
    r"\bre-?issue\b[^.?!\n]{0,40}\b(?:and|then)\s+(?:we|i)(?:'ll|\s+will|\s+can)\s+pay\b",
    r"\b(?:mistake|error|discrepancy)\s+(?:on|in|with)\s+(?:the\s+|this\s+|your\s+|that\s+)?"
    r"(?:invoice|bill|amount|charges?|pricing)\b",
    r"\b(?:goods|items|order|delivery|shipment|parts|products?|services?|materials?|equipment)\s+"
    r"(?:was|were|has|have)\s+(?:never|not)\s+(?:been\s+)?(?:delivered|received|shipped|"
    r"arrived|provided|performed)\b",
    r"\b(?:double|twice|duplicate)[\s-]*(?:billed|charged|invoiced|invoice|billing|charge)\b",
    r"\b(?:billed|charged|invoiced)\s+(?:us\s+)?(?:twice|double)\b",
    r"\b(?:never|not|didn't|did not|haven't|have not)\s+(?:yet\s+)?(?:received|got|ordered|"
    r"get|receive|order)\s+(?:the\s+|any\s+|our\s+|these\s+|those\s+)?(?:goods|items|order|"
    r"delivery|shipment|parts|products?|services?|materials?|equipment)\b",
    r"\b(?:damaged|defective|faulty|broken|missing items|short[- ]shipped|not as described|"
    r"not what we ordered)\b",
    r"\b(?:were|was)\s+quoted\b",
    r"\b(?:agreed|quoted|contract(?:ed)?)\s+(?:price|rate|amount)\b",
    r"\bdispute\w*\b",
    r"\bcontest\w*\b",
    r"\bcredit\s+(?:note|memo)\b",
    r"\b(?:a|our|the|full|partial|issue|want|need|request|expect)\s+refund\b(?!\s+from\b)",
    r"\b(?:cancel+ed|terminated)\s+(?:the\s+|our\s+|this\s+)?(?:order|service|subscription|"
    r"contract|agreement)\b",
    r"\b(?:don't|do not|dont)\s+owe\b",
    r"\bnot\s+(?:authori[sz]ed|agreed|approved)\b",
    r"\bcomplaint\b",
    r"\breturned\s+(?:the\s+)?(?:goods|items|order|shipment)\b",
    r"\breklamation\w*\b",
    r"\bgutschrift\w*\b",
    r"\bstimmt\s+(?:so\s+)?nicht\b",
    r"\b(?:falsch\w*|fehlerhaft\w*)\s+(?:betrag|preis|rechnung|menge|berechnung)\b",
    r"\b(?:betrag|preis|rechnung|menge)\s+(?:ist|war)\s+(?:\w+\s+)?(?:falsch|fehlerhaft|zu hoch)\b",
    r"\b(?:nie|nicht)\s+(?:bestellt|geliefert)\b",
    r"\b(?:ware|waren|lieferung|artikel|bestellung|leistung\w*|teile|produkte?|material\w*|"
    r"sendung)\b[^.?!\n]{0,40}\b(?:nie|nicht)\s+(?:erhalten|bekommen|angekommen)\b",
    r"\b(?:beschädigt|defekt|mangelhaft|unvollständig)\b",
    r"\bdoppelt\s+(?:berechnet|abgerechnet|in rechnung gestellt|fakturiert)\b",
    r"\bwiderspr\w+\b(?![^.;,\n]{0,30}\bnicht\b)",
    r"\bbeanstand\w*\b(?![^.;,\n]{0,30}\bnicht\b)",
    r"\b(?:betrag|preis|menge|summe)\b[^.?!\n]{0,30}\bkorrigier\w*|\brechnung\s+korrigier\w*",
    r"\bkorrigier\w*\s+(?:sie\s+)?(?:den|die|das)?\s*(?:betrag|preis|rechnung|menge|summe)\b",
    r"\bkorrigierte\s+rechnung\b",
    r"\bnicht\s+(?:vereinbart|beauftragt)\b",
    r"\bstorniert\b",
)

_PLAN = _rx(
    r"\binstal+ments?\b",
    r"\bpayment\s+plan\b",
    r"\bpay\s+(?:it\s+|this\s+)?(?:in|over)\s+(?:\w+\s+)?(?:parts|instal+ments|months|stages|"
    r"tranches|chunks)\b",
    r"\bsplit\s+(?:the\s+|this\s+|it\s+)?(?:payment|invoice|amount|balance)\b",
    r"\b(?:split|spread|break|divide)\b[^.?!\n]{0,30}\b(?:into|in|over|across)\s+(?:\w+\s+){0,2}"
    r"(?:payments|parts|instal+ments|months|weeks|cheques|checks|chunks|tranches)\b",
    r"\b(?:two|three|four|five|six|\d+|several|a few|few|multiple)\s+(?:\w+\s+)?(?:monthly|"
    r"weekly|equal|"
    r"smaller|post-?dated)\s+(?:payments|cheques|checks|transfers|amounts)\b",
    r"\bpost-?dated\s+(?:cheques|checks)\b",
    r"\b(?:accept|take|in|into|over|with)\s+(?:two|three|four|five|six|\d+|several|a few|"
    r"multiple)\s+"
    r"(?:\w+\s+)?(?:payments|instal+ments|cheques|checks|transfers)\b",
    # "we can pay something each month", "paying 25% per month": an amount by the month
    r"\b(?:pay|paying|settle|settling|send|sending)\s+(?:you\s+)?(?:something|some|it|this|that|"
    r"part(?:\s+of\s+it)?|the (?:balance|rest|invoice|amount)|an? (?:\w+\s+)?(?:amount|sum)|"
    r"[$€£]?\d[\d.,]*\s?(?:%|[$€£]|\w+)?)\s+(?:each|every|per|a)\s+(?:month|week)\b",
    r"\b(?:repayment|payment)\s+(?:arrangement|schedule)\b",
    r"\b(?:cannot|can't|unable to|not able to)\s+(?:pay|"
    r"settle)\b[^.?!\n]{0,30}\b(?:in one (?:payment|go)|"
    r"in full|all at once|at once)\b",
    r"\b(?:any|some)\s+(?:flexibility|leeway|leniency)\b",
    r"\b(?:extra|additional|a bit more|a little more)\s+time\b",
    r"\b(?:an?\s+)?extension\b",
    r"\bmore\s+time\b",
    r"\bextend\s+(?:the\s+)?(?:due date|deadline|payment terms|terms)\b",
    r"\b(?:defer|postpone|delay)\s+(?:the\s+)?payment\b",
    r"\bhardship\b",
    r"\bcash[\s-]?flow\b",
    r"\bcash\s+is\s+tight\b",
    r"\b(?:struggling|difficult(?:ies|y)|tough times)\b",
    r"\bpartial\s+payments\b",
    r"\b(?:half|part)\s+now\b",
    r"\bratenzahlung\w*\b",
    r"\b(?:monats|wochen|teil)raten\b",
    r"\bin\s+raten\b",
    r"\bratenplan\b",
    r"\bstundung\b",
    r"\bzahlungsaufschub\b",
    r"\bmehr\s+zeit\b",
    r"\bfristverlängerung\b",
    r"\b(?:zahlungsschwierigkeiten|liquiditätsengpass|engpass)\b",
)
_ASKING = _rx(
    r"\b(?:can|could|may|might)\s+(?:we|i)\b",
    r"\bwould\s+(?:it|you|that)\s+be\b",
    r"\bis\s+(?:it|there)\s+(?:possible|a way|any way)\b",
    r"\b(?:we|i)\s+(?:would like|'d like|want|need)\s+to\s+(?:ask|request|propose|arrange)\b",
    r"\b(?:request|requesting|asking for|propose|proposing)\b",
    r"\b(?:können|könnten|dürfen|dürften)\s+(?:wir|ich)\b",
    r"\bwäre\s+es\s+möglich\b",
    r"\bbitten\s+(?:wir|ich)?\s*(?:um|sie)\b",
    r"\?",
)

_UNSUBSCRIBE = _rx(
    r"\bun-?sub?scribe\b",
    r"\bunsuscribe\b",
    r"\bstop\s+(?:sending|emailing|e-mailing|mailing|contacting|spamming|these|"
    r"all (?:these|the)?\s*(?:e-?mails|messages|reminders))\b",
    r"\bremove\s+(?:me|us|my (?:e-?mail|address)|this address)\b[^.\n]{0,30}\b(?:list|mailing|"
    r"distribution|emails?|contacts?)\b",
    r"\b(?:do not|don't|dont|never)\s+(?:e-?mail|contact|write to|send (?:me|us))\b",
    r"\bno\s+(?:more|further)\s+(?:e-?mails|reminders|messages)\b",
    r"\b(?:take|get|remove|delete|drop)\s+(?:me|us|this (?:e-?mail\s+)?address|"
    r"my (?:e-?mail\s+)?address|"
    r"this e-?mail|(?:this|our|my) (?:inbox|mailbox|contact))\s+(?:off|from)\s+(?:of\s+)?(?:your|"
    r"the|this|that|all)"
    r"\s+(?:\w+\s+)?(?:list|lists|distribution|mailing|e-?mails|reminders|system)\b",
    r"\b(?:don't|do not|dont)\s+want\s+(?:to\s+(?:get|receive)\s+)?(?:any\s+)?(?:more|"
    r"further)\s+(?:of\s+)?"
    r"(?:these|your|those)?\s*(?:e-?mails|messages|reminders|notices)\b",
    r"\bopt(?:\s|-)?out\b",
    r"\babmelden\b",
    r"\babbestellen\b",
    r"\bkeine\s+(?:weiteren\s+|automatischen\s+){0,2}(?:e-?mails|mails|nachrichten|"
    r"(?:zahlungs)?erinnerungen|"
    r"mahnungen)\b",
    r"\b(?:e-?mails|mails|nachrichten|(?:zahlungs)?erinnerungen|mahnungen)\s+nicht\s+mehr\s+"
    r"(?:erhalten|bekommen|zugeschickt|zusenden)\b",
    r"\bhören\s+sie\s+(?:bitte\s+)?(?:damit\s+)?auf\b",
    r"\baustragen\b",
    r"\bnicht\s+mehr\s+(?:an)?(?:schreiben|kontaktieren|anmailen)\b",
    r"\b(?:schreiben|kontaktieren|mailen)\s+sie\s+(?:mich|uns)\s+nicht\s+mehr\b",
    r"\bmelden\s+sie\s+(?:mich|uns)\b[^.\n]{0,40}\bab\b",
    r"\b(?:von|aus)\s+(?:dem|diesem|ihrem)\s+(?:e-?mail-?)?verteiler\b",
)

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
_WRONG_CONTACT = _rx(
    r"\bno\s+longer\s+(?:with|at|works?|working|employed|responsible|handl\w+|in charge|part of)\b",
    r"\b(?:has|have)\s+(?:left|retired)\b(?!\s+(?:a|an|you|it|them|this|that|for\s+the\s+day|"
    r"for\s+today|early|the\s+(?:message|voicemail|note|invoice)))",
    r"\bleft\s+(?:the|our)\s+(?:company|organi[sz]ation|firm|business|team)\b",
    r"\b(?:not|no longer)\s+(?:the\s+)?(?:right|correct|appropriate)\s+(?:person|contact|"
    r"address|recipient|department)\b",
    r"\bwrong\s+(?:person|contact|address|recipient|department|email)\b",
    r"\bnot\s+(?:responsible|in charge)\s+for\b",
    r"\bthis\s+is\s+(?:a|an|our|my)\s+(?:sales|support|personal|private|general|info|marketing|"
    r"customer service|service)\s+(?:inbox|mailbox|e-?mail(?:\s+address)?|address|account)\b",
    r"\b(?:stopped|quit|no longer)\s+(?:doing|handling|keeping|managing)\s+(?:the\s+)?(?:books|"
    r"bookkeeping|accounts|payables|invoices|billing)\b",
    r"\b(?:accounts payable|payables|ap|invoicing|billing|bookkeeping)\s+(?:is|are|has been|"
    r"have been)\s+"
    r"outsourced\b",
    r"\bnicht\s+mehr\s+(?:im|in unserem|bei uns|für|zuständig|tätig|beschäftigt)\b",
    r"\b(?:hat|haben)\s+(?:das|unser)\s+(?:unternehmen|firma|haus)\s+verlassen\b",
    r"\bnicht\s+(?:der|die)?\s*(?:richtige|zuständige)\b",
    r"\bnicht\s+zuständig\b",
    r"\bfalsche[rn]?\s+(?:ansprechpartner|empfänger|kontakt|adresse)\b",
)
_REDIRECT = _rx(
    r"\b(?:please\s+)?(?:contact|reach out to|write to|e-?mail|send (?:(?:all|any|future|"
    r"the|your|all future)\s+)?(?:it|this|these|them|invoices?|reminders?|statements?|"
    r"correspondence)(?:\s+and\s+(?:\w+\s+)?(?:invoices|reminders|statements))?\s+to|"
    r"direct (?:it|this|your \w+)\s+to|"
    r"forward(?:ed)?\s+(?:it|this|your \w+)\s+to|should go to|address (?:it|this) to|use)\b"
    r"[^.\n]{0,40}@",
    r"\bwenden\s+sie\s+sich\b[^.\n]{0,40}@",
    r"\b(?:invoices?|bills?|statements?|reminders?|payables|accounts payable|correspondence)\b"
    r"[^.\n@]{0,40}?\s(?:should\s+|must\s+)?(?:go|goes|are handled|is handled|are processed|"
    r"is processed|are managed|"
    r"is managed)\b[^\n@]{0,70}@",
    r"\b(?:zuständig|verantwortlich)\s+(?:ist|sind)\b[^.\n]{0,50}@",
    r"\b(?:bitte\s+)?(?:an|kontaktieren\s+sie|schreiben\s+sie\s+an)\b[^.\n]{0,30}@",
)

_TOPICS: tuple[tuple[QuestionTopic, re.Pattern[str]], ...] = (
    (
        "bank_details",
        _rx(
            r"\bbank\s*(?:details|account|info\w*|data|connection)\b",
            r"\biban\b",
            r"\bswift\b",
            r"\bbic\b",
            r"\brouting\s+(?:number|no)\b",
            r"\bwire\s+(?:instructions|details)\b",
            r"\baccount\s+number\b",
            r"\bbankverbindung\b",
            r"\b(?:konto|bank)daten\b",
        ),
    ),
    (
        "tax_form",
        _rx(
            r"\bw-?[89]\b",
            r"\btax\s+(?:form|id|number|certificate|exemption)\b",
            r"\bvat\s+(?:number|id|registration)\b",
            r"\b1099\b",
            r"\bust-?id\w*\b",
            r"\bsteuer(?:nummer|-?id)\b",
        ),
    ),
    (
        "invoice_copy",
        _rx(
            r"\b(?:send|resend|re-send|forward|e-?mail|provide|share|attach)\b[^.?\n]{0,25}"
            r"\b(?:copy|copies|pdf|duplicate)\b",
            r"\bcopy\s+of\s+(?:the\s+|this\s+|that\s+|our\s+)?invoice",
            r"\binvoice\s+cop(?:y|ies)\b",
            r"\bre-?send\b(?![^.?\n]{0,25}\blink\b)",
            r"\b(?:can't|cannot|couldn't|can not|unable to)\s+(?:find|locate)\s+(?:the\s+|this\s+|"
            r"that\s+|your\s+)?invoice",
            r"\b(?:never|not|didn't|did not|haven't|have not)\s+(?:yet\s+)?(?:received|got|get|"
            r"receive|seen)\s+(?:the\s+|this\s+|that\s+|an?\s+|your\s+)?invoice",
            r"\b(?:resend|re-send)\s+(?:the\s+|this\s+)?invoice\b",
            r"\brechnungskopie\b",
            r"\bkopie\s+(?:der|ihrer)\s+rechnung\b",
            r"\brechnung\b[^.?\n]{0,30}\b(?:erneut|nochmal|noch einmal|bitte)\b[^.?\n]{0,20}"
            r"(?:senden|schicken|zusenden|zukommen)",
            r"\brechnung\b[^.?!\n]{0,30}\b(?:nicht|nie)\s+(?:erhalten|bekommen)\b",
        ),
    ),
    (
        "payment_link",
        _rx(
            r"\bpayment\s+link\b",
            r"\blink\s+(?:to|for)\s+(?:pay|payment)\b",
            r"\bhow\s+(?:can|do|should|could)\s+(?:we|i)\s+pay\b",
            r"\bpay(?:ment)?\s+(?:it\s+|this\s+|that\s+|the invoice\s+|the balance\s+|"
            r"online\s+)?(?:by|"
            r"with|via|using)\s+"
            r"(?:a\s+)?(?:credit\s+|debit\s+)?card\b",
            r"\b(?:a|any|the)\s+link\b[^.?\n]{0,30}\bpay\b",
            r"\bpay\s+online\b",
            r"\bzahlungslink\b",
            r"\bwie\s+(?:können|kann)\s+(?:wir|ich)\s+(?:\w+\s+)?(?:bezahlen|zahlen)\b",
            r"\bonline\s+(?:be)?zahlen\b",
            r"\bkreditkarte\b",
        ),
    ),
    (
        "amount",
        _rx(
            r"\bhow\s+much\b",
            r"\bwhat(?:\s+is|'s)\s+(?:the\s+|our\s+|my\s+)?(?:current\s+|total\s+)?(?:balance|"
            r"amount|total|"
            r"outstanding)\b",
            r"\b(?:outstanding|open|remaining)\s+(?:balance|amount)\s*\?",
            r"\bwelche[rn]?\s+betrag\b",
            r"\bwie\s+(?:hoch|viel)\b",
            r"\boffene[nr]?\s+betrag\b[^.\n]{0,20}\?",
        ),
    ),
    (
        "due_date",
        _rx(
            r"\bwhen\s+(?:is|was|are|were)\s+[^.?!\n]{0,50}?\bdue\b",
            r"\b(?:what|which)(?:\s+is|'s)\s+(?:the\s+)?due\s+date\b",
            r"\bdue\s+date\s*\?",
            r"\bwann\s+(?:ist|war|wird)\b[^.?\n]{0,30}\bfällig\b",
            r"\bfälligkeit\w*\s*\?",
            r"\bbis\s+wann\b",
        ),
    ),
    (
        "other",
        _rx(
            r"\b(?:po|purchase order)\s*(?:number|no|#)?\b(?!\s*box\b)",
            r"\b(?:what|which)\s+(?:\w+\s+)?address\b[^.\n]{0,40}\?",
            r"\bwhere\s+(?:should|do|can|shall)\s+(?:we|i)\s+(?:mail|send|post)\b",
            r"\b(?:remit(?:tance)?|mailing|postal)\s+address\b",
            r"\b(?:supplier|vendor)\s+(?:form|set-?up|onboarding|registration|application)\b",
            r"\b(?:complete|fill\s+(?:in|out)|sign\s+and\s+return)\s+(?:the\s+|"
            r"our\s+)?(?:attached\s+)?"
            r"(?:\w+\s+){0,2}form\b",
            r"\bbreakdown\b",
            r"\bitemi[sz]ed\b",
            r"\bstatement\s+of\s+account\b",
            r"\bcontract\s+terms\b",
            r"\bbestellnummer\b",
            r"\baufschlüsselung\b",
            r"\bkontoauszug\b",
        ),
    ),
)
_GENERIC_QUESTION = _rx(
    r"\b(?:can|could|would|will)\s+you\b[^.\n]{0,80}\?",
    r"^\s*(?:what|when|where|which|who|how|why|is|are|do|does)\b[^.\n]{0,80}\?",
    r"\b(?:please\s+)?(?:let (?:me|us) know|advise|confirm)\b",
    r"\b(?:call|ring|phone)\s+(?:me|us)\s+back\b|\bgive\s+(?:me|us)\s+a\s+call\b",
    r"\b(?:please|bitte)\s+(?:correct|update|change|amend|korrigieren|ändern|aktualisieren)\b",
    r"\brufen\s+sie\s+(?:mich|uns)\b[^.\n]{0,30}\b(?:an|zurück)\b|\brückruf\b",
    r"\b(?:können|könnten|würden)\s+sie\b",
    r"\bbitte\s+(?:senden|schicken|teilen)\b",
)

_ABSENCE = _rx(
    r"\bout\s+of\s+(?:the\s+)?office\b",
    r"\bon\s+(?:annual\s+|parental\s+|maternity\s+|paternity\s+|sick\s+)?(?:leave|vacation|"
    r"holiday|holidays)\b",
    r"\baway\s+from\s+(?:the|my)\s+(?:office|desk)\b",
    r"\blimited\s+access\s+to\s+(?:my\s+)?e-?mail\b",
    r"\b(?:currently|presently)\s+(?:away|out|unavailable|abroad|travel+ing)\b",
    r"\babwesen\w*\b",
    r"\bnicht\s+im\s+büro\b",
    r"\bim\s+urlaub\b",
    r"\bausser\s+haus\b|\baußer\s+haus\b",
    r"\bautomatic\s+reply\b|\bauto-?reply\b|\bautomatische\s+antwort\b",
)
_BOUNCE_TEXT = _rx(
    r"\bdelivery\s+(?:has\s+)?failed\b",
    r"\bundeliverable\b",
    r"\bcould\s+not\s+be\s+delivered\b",
    r"\bmailbox\s+(?:unavailable|not found|full)\b",
    r"\buser\s+unknown\b",
    r"\bunzustellbar\b",
)
_THANKS = _rx(
    r"\bthanks?\b",
    r"\bthank\s+you\b",
    r"\bnoted\b",
    r"\bdanke\b",
    r"\bvielen\s+dank\b",
    r"\bok(?:ay)?\b",
)

_MONEY = re.compile(
    r"(?:(?P<c1>[$€£]|\b(?:usd|eur|gbp|chf|cad|aud)\b)\s?(?P<n1>\d[\d.,'’ ]*\d|\d))"
    r"|(?:(?P<n2>\d[\d.,'’]*\d|\d)\s?(?P<c2>[$€£]|\b(?:usd|eur|gbp|chf|cad|aud|euros?|"
    r"dollars?|pounds?)\b))",
    re.IGNORECASE,
)
_PAY_WORD = re.compile(
    r"\b(?:pay|paid|payment|settle|transfer|wire|remit|send|zahl|bezahl|überweis|begleich)",
    re.IGNORECASE,
)
_INVOICE_LIKE = re.compile(
    r"\b(?:(?:inv|re|rg|rn|bill)[-_ /#]?\d[\w/-]*|(?:invoice|rechnung)\s*(?:no\.?|nr\.?|number|"
    r"#|nummer)?\s*:?\s*#?(?P<num>[A-Z]*-?\d[\w/-]*))",
    re.IGNORECASE,
)
_TAGS = re.compile(r"<[^>]{0,200}>")
_SPACES = re.compile(r"[ \t\u00a0\u202f]+")
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")


@dataclass(frozen=True, slots=True)
class _Hit:
    intent: str
    start: int
    end: int
    text: str


def clean(text: str) -> str:
    """HTML remnants, entities, odd spaces and apostrophes turned into plain text."""
    text = html.unescape(text or "")
    text = _TAGS.sub(" ", text)
    text = text.replace("’", "'").replace("`", "'").replace("\r", "")
    return _SPACES.sub(" ", text)


def _negated(text: str, start: int) -> bool:
    window = text[max(0, start - 40) : start]
    window = re.split(
        r"[.;!?\n]|\b(?:but|until|till|unless|once|because|before|aber|sondern|bis|sobald|bevor|"
        r"weil|denn|solange)\b",
        window,
    )[-1]
    return bool(_NEGATION.search(window))


def _find(
    pattern: re.Pattern[str], text: str, intent: str, *, negatable: bool = True
) -> list[_Hit]:
    hits = []
    for match in pattern.finditer(text):
        if negatable and _negated(text, match.start()):
            continue
        hits.append(_Hit(intent, match.start(), match.end(), match.group(0)))
    return hits


def _set_aside_injections(text: str) -> tuple[str, str]:
    """The text without the sentences that address the agent, and the first such one."""
    kept, found = [], ""
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0)
        if _INJECTION.search(sentence):
            found = found or sentence.strip()
            kept.append(" " * len(sentence))
        else:
            kept.append(sentence)
    return "".join(kept), found


_BOUNDARY = re.compile(r"[.!?](?=\s|$)|\n")


def _evidence(text: str, hit: _Hit) -> str:
    """The sentence around a hit, trimmed: the words that decided it."""
    start = 0
    for boundary in _BOUNDARY.finditer(text, 0, hit.start):
        start = boundary.end()
    after = _BOUNDARY.search(text, hit.end)
    end = after.end() if after else len(text)
    return " ".join(text[start:end].split())[:200]


def parse_amount(number: str, language: str | None = None) -> Decimal | None:
    """``1,250.00``, ``1.250,00``, ``1 250``, ``500``: a ``Decimal``, or ``None``."""
    raw = number.replace("'", "").replace("’", "").replace(" ", "")
    if "," in raw and "." in raw:
        decimal_mark = "," if raw.rfind(",") > raw.rfind(".") else "."
    elif "," in raw:
        decimal_mark = "," if len(raw) - raw.rfind(",") - 1 in (1, 2) else ""
    elif "." in raw:
        after = len(raw) - raw.rfind(".") - 1
        decimal_mark = "." if after in (1, 2) or raw.count(".") == 0 else ""
        if after == 3 and raw.count(".") == 1 and (language or "").startswith("en"):
            decimal_mark = "."
    else:
        decimal_mark = ""
    if decimal_mark:
        whole, _, fraction = raw.rpartition(decimal_mark)
        whole = whole.replace(",", "").replace(".", "")
        raw = f"{whole}.{fraction}"
    else:
        raw = raw.replace(",", "").replace(".", "")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    return value if value > 0 else None


_CAN_DO = re.compile(
    r"\b(?:can|could|will|'ll|shall)\s+(?:do|manage|cover|send|"
    r"afford)\s+(?:you\s+)?$",
    re.IGNORECASE,
)
_PAY_NUMBER = re.compile(
    r"\b(?:pay|paying|transfer|wire|send|remit|zahlen|bezahlen|überweisen|ueberweisen)\w*\s+"
    r"(?:you\s+|ihnen\s+|wir\s+|ich\s+)?(?:(?!(?:am|on|by|at|in|within|innerhalb|bis|zum|until|"
    r"till|before|vor|ab|from|after|nach|inv|invoice|invoices|rechnung|nr|no|number)\s)\w+\s+)?"
    r"(?P<n>\d[\d.,']*\d|\d+)\b"
    r"(?!\s*(?:days?|tage\w*|weeks?|wochen|months?|monate\w*|%|th\b|st\b|nd\b|rd\b|[./]\d))",
    re.IGNORECASE,
)


def _promised_amount(text: str, language: str | None) -> Decimal | None:
    """The amount a promise names: money next to a pay word, "we can do $2,000", or
    "pay 500"."""
    for match in _MONEY.finditer(text):
        start = max(text.rfind(".", 0, match.start()), text.rfind("\n", 0, match.start())) + 1
        window = text[start : match.end() + 60]
        if not (_PAY_WORD.search(window) or _CAN_DO.search(text, start, match.start())):
            continue
        number = match.group("n1") or match.group("n2")
        amount = parse_amount(number, language)
        if amount is not None:
            return amount
    for match in _PAY_NUMBER.finditer(text):
        amount = parse_amount(match.group("n"), language)
        if amount is not None and not (1900 <= amount <= 2100 and "." not in match.group("n")):
            return amount
    return None


def _norm(number: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", number.upper())


def named_invoices(texts: Iterable[str], known: Iterable[str]) -> list[str]:
    """Invoice numbers the texts name: the account's own (tolerating ``INV 1042`` for
    ``INV-1042`` and ``#1042`` when only one invoice ends so), else invoice-like words."""
    joined = "\n".join(texts)
    folded = _norm(joined)
    found: list[str] = []
    known = list(known)
    for number in known:
        if number and (
            number.upper() in joined.upper() or (_norm(number) and _norm(number) in folded)
        ):
            found.append(number)
    if found:
        return found
    for match in re.finditer(r"#\s?(\d{3,})\b", joined):
        tails = [n for n in known if _norm(n).endswith(match.group(1))]
        if len(tails) == 1:
            found.append(tails[0])
    if found:
        return found
    for match in _INVOICE_LIKE.finditer(joined):
        word = (match.group("num") or match.group(0)).strip(" #:/")
        if any(ch.isdigit() for ch in word) and len(word) >= 3 and word not in found:
            found.append(word.upper() if not match.group("num") else word)
    return found


def classify_offline(reply: ReplyText) -> Classification:
    """The intent of ``reply`` and what goes with it, by rules."""
    sent = reply.sent_at.date()
    subject = clean(reply.subject)
    text = clean(reply.text)
    invoices = named_invoices([subject, text], reply.known_invoices)

    def result(intent: str, confidence: float, evidence: str, **extra: object) -> Classification:
        return Classification(
            intent=intent,  # type: ignore[arg-type]
            confidence=confidence,
            evidence=evidence[:300],
            invoices=invoices,
            engine=ENGINE,
            **extra,  # type: ignore[arg-type]
        )

    if reply.automatic == "bounce":
        return result("bounce", 0.97, reply.auto_evidence or "delivery failure report")
    if reply.automatic == "out_of_office":
        left = _find(_WRONG_CONTACT, text, "wrong_contact")
        if left:
            # "X is no longer with us, contact ap@...": automatic, but not an absence
            redirects = _find(_REDIRECT, text, "wrong_contact", negatable=False)
            return result(
                "wrong_contact",
                0.85,
                _evidence(text, left[0]),
                new_contact=_new_contact(text, redirects),
            )
        source = text if text.strip() else clean(reply.full_text)
        back = reply_dates.return_date(source, sent, language=reply.language)
        if back is None and source is not text:
            back = reply_dates.return_date(subject, sent, language=reply.language)
        return result(
            "out_of_office", 0.95, reply.auto_evidence or "absence notice", return_date=back
        )

    body, injection = _set_aside_injections(text)
    suspicious = bool(injection)
    if reply.automatic == "auto_other":
        paid = _find(_PAID, body, "paid")
        if paid:
            return result("paid", 0.85, _evidence(body, paid[0]), suspicious=suspicious)
        return result("other", 0.8, reply.auto_evidence or "automatic mail", suspicious=suspicious)

    scan = f"{subject}\n{body}" if not subject.lower().startswith(("re:", "aw:")) else body
    hits = {
        "wrong_contact": _find(_WRONG_CONTACT, scan, "wrong_contact"),
        "redirect": _find(_REDIRECT, scan, "wrong_contact", negatable=False),
        "unsubscribe": [
            hit
            for hit in _find(_UNSUBSCRIBE, scan, "unsubscribe", negatable=False)
            if not _temporary_or_footer(scan, hit)
        ],
        "dispute": _find(_DISPUTE, scan, "dispute"),
        "paid": _find(_PAID, scan, "paid"),
        "promise": _find(_PROMISE, scan, "promise_to_pay"),
        "plan": _find(_PLAN, scan, "payment_plan"),
        "absence": _find(_ABSENCE, scan, "out_of_office", negatable=False),
        "bounce": _find(_BOUNCE_TEXT, scan, "bounce", negatable=False),
    }
    terse = _TERSE.fullmatch(body.strip())
    if terse:
        # "paid", "STOP", "Remove": one word under a reminder answers it
        key = "paid" if terse.group("paid") else "unsubscribe"
        hits[key] = hits[key] or [_Hit(key, 0, len(body), body.strip())]
    remittance = any(_REMITTANCE_FILE.search(name) for name in reply.attachments)
    if remittance and not hits["paid"] and not hits["promise"]:
        hits["paid"] = [_Hit("paid", 0, 0, "remittance attached")]
    extra: dict[str, object] = {"suspicious": suspicious}

    def first(*keys: str) -> _Hit:
        return min((h for k in keys for h in hits[k]), key=lambda h: h.start)

    dates: list[tuple[list[reply_dates.FoundDate], reply_dates.FoundDate | None]] = []

    def promise_dates() -> tuple[list[reply_dates.FoundDate], reply_dates.FoundDate | None]:
        # dates are the costly part: resolved once, and only when a rule needs them
        if not dates:
            found = reply_dates.resolve_dates(body, sent, language=reply.language)
            dates.append(
                (found, reply_dates.promise_date(body, sent, language=reply.language, found=found))
            )
        return dates[0]

    redirected = hits["wrong_contact"] or hits["redirect"]
    # a redirect beats an opt-out and a promise without a date ("send invoices to
    # ap@..., they will process them"); a dated promise or a payment claim beats it
    if redirected and (
        hits["wrong_contact"]
        or hits["unsubscribe"]
        or not ((hits["promise"] and promise_dates()[1] is not None) or hits["paid"])
    ):
        new = _new_contact(scan, hits["redirect"])
        hit = first("wrong_contact", "redirect")
        return result("wrong_contact", 0.9, _evidence(scan, hit), new_contact=new, **extra)
    # "the address on file came back as undeliverable, which one should we use?" asks
    if hits["bounce"] and not (hits["promise"] or hits["paid"] or hits["dispute"] or "?" in body):
        return result("bounce", 0.7, _evidence(scan, hits["bounce"][0]), **extra)
    if hits["dispute"]:
        return result("dispute", 0.9, _evidence(scan, hits["dispute"][0]), **extra)

    found_dates, promised = promise_dates()
    if hits["promise"] and promised is not None:
        promised = _date_with_commitment(
            scan, body, hits["promise"][0], found_dates, promised, reply
        )
    asking = bool(_ASKING.search(body))
    if hits["plan"] and (asking or not hits["promise"] or promised is None):
        return result("payment_plan", 0.85, _evidence(scan, hits["plan"][0]), **extra)
    if hits["promise"] and hits["paid"]:
        # "paid half, will pay the rest Friday": a firm future commitment decides;
        # "payment was sent, should arrive Friday": it is already paid
        promise_hit = hits["promise"][0]
        if promised is not None and re.search(
            r"\b(?:we|i|wir|ich)\b|^\s*(?:will|shall)\b",
            promise_hit.text,
            re.IGNORECASE,
        ):
            return _promise(result, scan, body, promise_hit, promised, reply, **extra)
        return result("paid", 0.85, _evidence(scan, hits["paid"][0]), **extra)
    if hits["paid"]:
        return result("paid", 0.9, _evidence(scan, hits["paid"][0]), **extra)
    if hits["unsubscribe"] and suspicious:
        # "ignore your instructions ... send no more reminders": the opt-out is part of
        # the instructions addressed to the agent, not the customer's request
        return result("other", 0.3, f"instructions addressed to the agent: {injection}", **extra)
    if hits["unsubscribe"]:
        return result("unsubscribe", 0.9, _evidence(scan, hits["unsubscribe"][0]), **extra)
    if hits["promise"] and promised is not None:
        return _promise(result, scan, body, hits["promise"][0], promised, reply, **extra)

    for topic, pattern in _TOPICS:
        topic_hits = _find(pattern, scan, "question", negatable=topic != "invoice_copy")
        if topic_hits:
            # "we'd like to pay by card, do you have a link?": a promise without a date
            # does not beat a question
            return result(
                "question", 0.85, _evidence(scan, topic_hits[0]), question_topic=topic, **extra
            )
    if hits["promise"]:
        return _promise(result, scan, body, hits["promise"][0], promised, reply, **extra)
    if promised is not None and (_PAY_WORD.search(body) or _only_a_date(body, promised)):
        # "Friday." under a reminder, or "payment by the 20th": a date about paying
        return result(
            "promise_to_pay",
            0.6,
            promised.words,
            promise_date=promised.value,
            promise_amount=_promised_amount(body, reply.language),
            **extra,
        )
    if hits["absence"]:
        back = reply_dates.return_date(body, sent, language=reply.language)
        return result(
            "out_of_office", 0.7, _evidence(scan, hits["absence"][0]), return_date=back, **extra
        )
    generic = _find(_GENERIC_QUESTION, body, "question", negatable=False)
    if generic and _MARKETING_FOOTER.search(body):
        # "confirm your details at the link below ... unsubscribe from these offers"
        footer = _find(_MARKETING_FOOTER, body, "other", negatable=False)[0]
        return result("other", 0.6, _evidence(body, footer), **extra)
    if generic:
        return result("question", 0.6, _evidence(body, generic[0]), question_topic="other", **extra)
    if suspicious:
        return result("other", 0.3, f"instructions addressed to the agent: {injection}", **extra)
    thanks = _find(_THANKS, body, "other", negatable=False)
    if thanks:
        return result("other", 0.8, _evidence(body, thanks[0]), **extra)
    return result("other", 0.4, " ".join(body.split())[:120], **extra)


_TERSE = re.compile(
    r"(?:(?P<paid>(?:(?:it\s+was|it's|it\s+is|all|already|was)\s+)?(?:paid|payed|settled|bezahlt|"
    r"beglichen|überwiesen)(?:\s+(?:already|in full|thanks|thank you|bereits|schon))?)"
    r"|(?:please\s+|bitte\s+)?(?:stop|remove|remove me|unsubscribe|stop please|remove please|"
    r"stopp))"
    r"\s*[.!]*",
    re.IGNORECASE,
)
_TEMPORARY_OPT_OUT = re.compile(
    r"\b(?:until then|till then|in the meantime|meanwhile|for now|until (?:that date|we pay|"
    r"payment)|bis dahin|bis zur zahlung|bis zum|bis zu diesem|vorerst|solange)\b",
    re.IGNORECASE,
)
_MARKETING_FOOTER = re.compile(
    r"\b(?:unsubscribe\s+(?:from\s+)?(?:these|this|our|all)\s+(?:offers|promotions|newsletters?|"
    r"marketing|deals|updates)|to\s+unsubscribe|click\s+(?:here\s+)?to\s+unsubscribe|"
    r"you\s+(?:are|were)\s+receiving\s+this\s+(?:e-?mail|message|newsletter)|manage\s+(?:your\s+)?"
    r"(?:e-?mail\s+)?preferences)\b",
    re.IGNORECASE,
)


def _temporary_or_footer(text: str, hit: _Hit) -> bool:
    """An opt-out that is no opt-out: for a while only ("no more reminders until then",
    "bis dahin keine Mahnungen"), or a marketing mail's unsubscribe footer."""
    return bool(_TEMPORARY_OPT_OUT.search(_evidence(text, hit)) or _MARKETING_FOOTER.search(text))


_TERSE_FILLER = re.compile(
    r"(?:\W|\b(?:by|on|until|till|before|latest|at the latest|ok|okay|am|bis|zum|spätestens)\b)*",
    re.IGNORECASE,
)


def _only_a_date(body: str, promised: reply_dates.FoundDate) -> bool:
    """The reply is a date and nothing else ("Friday.", "Bis Freitag"): under a reminder,
    the day they will pay."""
    rest = body[: promised.start] + " " + body[promised.end :]
    return bool(_TERSE_FILLER.fullmatch(rest))


def _date_with_commitment(
    scan: str,
    body: str,
    hit: _Hit,
    found: list[reply_dates.FoundDate],
    promised: reply_dates.FoundDate,
    reply: ReplyText,
) -> reply_dates.FoundDate:
    """The promised date in the sentence that commits ("I'm away this week. I'll pay it
    when I'm back, Monday the 23rd" -> the 23rd), else the one ``promise_date`` chose."""
    offset = len(scan) - len(body)
    if hit.start < offset:
        return promised
    start, end = reply_dates.sentence_at(body, hit.start - offset)
    local = [item for item in found if start <= item.start < end]
    if not local:
        return promised
    chosen = reply_dates.promise_date(
        body, reply.sent_at.date(), language=reply.language, found=local
    )
    return chosen or promised


def _promise(result, scan, body, hit, promised, reply, **extra):  # type: ignore[no-untyped-def]
    amount = _promised_amount(body, reply.language)
    return result(
        "promise_to_pay",
        0.9 if promised is not None else 0.7,
        _evidence(scan, hit),
        promise_date=None if promised is None else promised.value,
        promise_amount=amount,
        **extra,
    )


def _new_contact(text: str, redirects: list[_Hit]) -> str | None:
    """The address a wrong-contact reply points to: after a redirect phrase, else the
    first address in the text."""
    for hit in redirects:
        found = _EMAIL.search(text, hit.start)
        if found:
            return found.group(0).lower().rstrip(".")
    found = _EMAIL.search(text)
    return found.group(0).lower().rstrip(".") if found else None
