"""A big pass shared by worker processes: every due account decided exactly once."""

from __future__ import annotations

import mailbox
from collections import Counter
from datetime import date

from sqlmodel import func, select

from agent.clock import DayClock
from agent.runtime import PARALLEL_FROM, open_runtime
from tools.seed import seed_ledger
from tools.tables import Account, DecisionRow, Message

AS_OF = date(2026, 3, 10)


def test_two_workers_decide_each_account_once_and_send_nothing_twice(settings, engine, session):
    seed_ledger(engine, accounts=PARALLEL_FROM + 40, seed=3, as_of=AS_OF, now=DayClock(AS_OF).now())
    due = session.exec(select(func.count()).select_from(Account)).one()

    with open_runtime(settings, clock=DayClock(AS_OF), engine=engine) as runtime:
        summary = runtime.run_pass(workers=2)

    assert summary.workers == 2 and summary.accounts_looked_at == due
    per_account = Counter(session.exec(select(DecisionRow.account_id)).all())
    assert len(per_account) == due and set(per_account.values()) == {1}
    assert {d["account"] for d in summary.decisions} == set(per_account)
    sent = session.exec(select(Message).where(Message.local_day == AS_OF)).all()
    assert summary.sent == len(sent) > 0
    assert len(list(mailbox.Maildir(settings.outbox_dir, create=False))) == len(sent)
    assert summary.sent + summary.waited + summary.held + summary.escalated == due
