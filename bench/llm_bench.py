"""``make bench`` (LLM engine): 1,000 due reminders drafted by a model that answers in 1 s,
at ``llm_concurrency`` 16 (target: under 90 s).

The model is a local OpenAI-compatible HTTP server (a threading ``http.server``) that
waits ``LATENCY`` seconds and answers each draft request with a reminder built from
the facts in the prompt, so every draft passes the verify step (one call per send).
Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sqlalchemy as sa

from agent.clock import DayClock
from agent.config import load_settings
from agent.runtime import open_engine, open_runtime
from tools.tables import Account, Contact, Invoice

DRAFTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000
LATENCY = 1.0
CONCURRENCY = 16
TODAY = date(2026, 3, 16)


class FakeModel(BaseHTTPRequestHandler):
    """Chat completions after ``LATENCY`` seconds: a reminder quoting the prompt's facts."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(LATENCY)
        facts = body["messages"][-1]["content"]
        lines = [line[2:] for line in facts.splitlines() if line.startswith("- INV-")]
        numbers = [line.split(":", 1)[0] for line in lines]
        system = body["messages"][0]["content"]
        tones = system.split("one of: ", 1)[1].split(" (", 1)[0].split(", ")
        draft = {
            "tone": tones[-1],
            "tone_reason": "the policy's tone",
            "subject": "Payment overdue: invoice " + ", ".join(numbers),
            "body": "Hello,\n\nthe following is overdue:\n"
            + "\n".join(f"Invoice {line}" for line in lines)
            + "\n\nKind regards,\nAccounts Receivable",
            "facts_cited": numbers,
        }
        answer = {
            "id": "bench",
            "object": "chat.completion",
            "created": 0,
            "model": "bench-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": json.dumps(draft)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 300, "completion_tokens": 120, "total_tokens": 420},
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        return


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="dunning-llm-bench-"))
    try:
        settings = load_settings(
            database_url=f"sqlite:///{work / 'ledger.db'}",
            outbox_dir=work / "outbox",
            llm_model="bench-model",
            llm_base_url=f"http://127.0.0.1:{server.server_port}/v1",
            llm_concurrency=CONCURRENCY,
            llm_response_format="json_schema",
            workers=1,
        )
        engine = open_engine(settings)
        now = datetime(2026, 3, 1, tzinfo=UTC)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(Account),
                [
                    {
                        "id": f"B-{n:05d}",
                        "name": f"Customer {n}",
                        "next_review_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(DRAFTS)
                ],
            )
            conn.execute(
                sa.insert(Contact),
                [{"account_id": f"B-{n:05d}", "email": f"ap@c{n}.example"} for n in range(DRAFTS)],
            )
            conn.execute(
                sa.insert(Invoice),
                [
                    {
                        "number": f"INV-{n:05d}",
                        "account_id": f"B-{n:05d}",
                        "currency": "USD",
                        "amount": Decimal("1250.00"),
                        "balance": Decimal("1250.00"),
                        "issue_date": date(2026, 2, 3),
                        "due_date": date(2026, 3, 5),
                    }
                    for n in range(DRAFTS)
                ],
            )
        with open_runtime(settings, clock=DayClock(TODAY), engine=engine) as runtime:
            started = time.perf_counter()
            summary = runtime.run_pass()
            seconds = time.perf_counter() - started
            usage = runtime.deps.llm.usage
        print(
            f"llm: {summary.sent:,} reminders drafted by a model answering in {LATENCY:.0f} s, "
            f"concurrency {CONCURRENCY}: {seconds:.1f} s ({usage.calls:,} calls, "
            f"{len(usage.fallbacks)} fallbacks)   [target: 1,000 in < 90 s]"
        )
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
