"""The eval report: pass rate, accuracy per field, per-intent precision/recall/F1, the
intent confusion matrix, critical violations and every failed case, as a terminal
report, as JSON (``shared/eval-cases.md``'s shape) and as Markdown for a pull request.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from rich.console import Console
from rich.table import Table

from agent.classification import INTENTS
from evals.harness import Result


def summarize(results: list[Result]) -> dict[str, Any]:
    cases = len(results)
    passed = sum(r.passed for r in results)
    totals: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for result in results:
        for name in result.expected:
            totals[name] += 1
            right[name] += name not in result.mismatched and result.error is None
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    for result in results:
        if result.kind == "reply" and "intent" in result.expected:
            confusion[result.expected["intent"]][str(result.got.get("intent"))] += 1
    per_intent = {}
    for intent in INTENTS:
        row = confusion.get(intent, Counter())
        tp = row[intent]
        predicted = sum(other[intent] for other in confusion.values())
        actual = sum(row.values())
        if not predicted and not actual:
            continue
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_intent[intent] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": actual,
        }
    tags: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        for tag in result.tags:
            tags[tag].append(result)
    return {
        "cases": cases,
        "passed": passed,
        "pass_rate": round(passed / cases, 4) if cases else 0.0,
        "critical_violations": sum(r.critical for r in results),
        "errors": sum(r.error is not None for r in results),
        "accuracy": {name: round(right[name] / totals[name], 4) for name in sorted(totals)},
        "per_intent": per_intent,
        "confusion": {k: dict(v) for k, v in sorted(confusion.items())},
        "per_tag": {
            tag: {
                "cases": len(items),
                "passed": sum(r.passed for r in items),
                "pass_rate": round(sum(r.passed for r in items) / len(items), 4),
            }
            for tag, items in sorted(tags.items())
        },
        "by_kind": {
            kind: {
                "cases": len(items),
                "passed": sum(r.passed for r in items),
            }
            for kind in ("reply", "decision")
            if (items := [r for r in results if r.kind == kind])
        },
    }


def to_json(results: list[Result]) -> dict[str, Any]:
    return {"summary": summarize(results), "cases": [r.to_json() for r in results]}


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def print_report(console: Console, results: list[Result], seconds: float) -> None:
    summary = summarize(results)
    console.print(
        f"[bold]{summary['passed']}/{summary['cases']} cases passed "
        f"({_pct(summary['pass_rate'])})[/bold], critical violations: "
        f"{summary['critical_violations']}, errors: {summary['errors']} ({seconds:.1f} s)"
    )
    table = Table(title="accuracy per field")
    table.add_column("field")
    table.add_column("accuracy", justify="right")
    for name, value in summary["accuracy"].items():
        table.add_row(name, _pct(value))
    console.print(table)
    if summary["per_intent"]:
        table = Table(title="per intent")
        for column in ("intent", "precision", "recall", "F1", "support"):
            table.add_column(column, justify="left" if column == "intent" else "right")
        for intent, row in summary["per_intent"].items():
            table.add_row(
                intent,
                _pct(row["precision"]),
                _pct(row["recall"]),
                _pct(row["f1"]),
                str(row["support"]),
            )
        console.print(table)
        seen = [
            i
            for i in INTENTS
            if i in summary["confusion"] or any(i in row for row in summary["confusion"].values())
        ]
        table = Table(title="intent confusion (rows: expected, columns: got)")
        table.add_column("")
        for intent in seen:
            table.add_column(intent[:10], justify="right")
        for intent in seen:
            row = summary["confusion"].get(intent, {})
            table.add_row(intent, *[str(row.get(other, "")) for other in seen])
        console.print(table)
    failed = [r for r in results if not r.passed]
    for result in failed:
        flag = "[red]CRITICAL[/red] " if result.critical else ""
        console.print(f"{flag}[bold]{result.id}[/bold] ({result.path})", highlight=False)
        for name in result.mismatched:
            console.print(
                f"  {name}: expected {result.expected.get(name)!s}, got {result.got.get(name)!s}",
                highlight=False,
            )
        for violation in result.violations:
            console.print(f"  violation: {violation}", highlight=False)
        if result.error:
            console.print(f"  error: {result.error}", highlight=False)
        console.print(f"  reason: {result.reason}", highlight=False)


def markdown(results: list[Result], seconds: float) -> str:
    summary = summarize(results)
    lines = [
        "# Eval report",
        "",
        f"- cases: {summary['cases']}, passed: {summary['passed']} ({_pct(summary['pass_rate'])})",
        f"- critical violations: {summary['critical_violations']}",
        f"- errors: {summary['errors']}",
        f"- run time: {seconds:.1f} s",
        "",
        "## Accuracy per field",
        "",
        "| field | accuracy |",
        "| --- | ---: |",
        *[f"| {name} | {_pct(value)} |" for name, value in summary["accuracy"].items()],
        "",
    ]
    if summary["per_intent"]:
        lines += [
            "## Per intent",
            "",
            "| intent | precision | recall | F1 | support |",
            "| --- | ---: | ---: | ---: | ---: |",
            *[
                f"| {intent} | {_pct(r['precision'])} | {_pct(r['recall'])} | {_pct(r['f1'])} "
                f"| {r['support']} |"
                for intent, r in summary["per_intent"].items()
            ],
            "",
            "## Intent confusion (rows: expected, columns: got)",
            "",
        ]
        got_names = sorted({g for row in summary["confusion"].values() for g in row})
        lines.append("| expected | " + " | ".join(got_names) + " |")
        lines.append("| --- |" + " ---: |" * len(got_names))
        for intent, row in summary["confusion"].items():
            cells = " | ".join(str(row.get(g, "")) for g in got_names)
            lines.append(f"| {intent} | {cells} |")
        lines.append("")
    failed = [r for r in results if not r.passed]
    lines += [f"## Failed cases ({len(failed)})", ""]
    for result in failed:
        lines.append(f"### {'CRITICAL: ' if result.critical else ''}{result.id}")
        lines.append("")
        for name in result.mismatched:
            lines.append(
                f"- {name}: expected `{result.expected.get(name)}`, got `{result.got.get(name)}`"
            )
        for violation in result.violations:
            lines.append(f"- violation: {violation}")
        if result.error:
            lines.append(f"- error: {result.error}")
        lines.append(f"- reason: {result.reason}")
        lines.append("")
    return "\n".join(lines)
