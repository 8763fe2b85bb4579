"""``dunning simulate`` as a user runs it: the three strategies side by side on the same
simulated customers, the agreed JSON shape, the plot, and what the strategies do to
customers who answer."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from agent.cli import app
from evals import personas
from evals.simulate import World

runner = CliRunner()


def test_simulate_prints_the_agreed_json_and_draws_the_plot(tmp_path):
    plot = tmp_path / "cash.png"
    result = runner.invoke(
        app,
        [
            "simulate",
            "--accounts",
            "24",
            "--days",
            "35",
            "--seeds",
            "2",
            "--json",
            "--plot",
            str(plot),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["strategies"]) == {"agent", "fixed", "none"}
    for name in ("agent", "fixed", "none"):
        row = data["strategies"][name]
        assert set(row) >= {
            "cash_collected",
            "messages_sent",
            "trust_violations",
            "escalations",
            "dso",
            "cei",
        }
        assert set(row["cash_collected"]) == {"30"}
        assert set(data["spread"][name]) == set(row)
    assert data["strategies"]["none"]["messages_sent"] == 0
    assert data["strategies"]["agent"]["trust_violations"] == 0
    # reminders collect more than silence on the same customers
    assert (
        data["strategies"]["agent"]["cash_collected"]["30"]
        > data["strategies"]["none"]["cash_collected"]["30"]
    )
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_strategy_option_repeats_and_rejects_unknown_names():
    ok = runner.invoke(
        app,
        [
            "simulate",
            "--accounts",
            "5",
            "--days",
            "5",
            "--seeds",
            "1",
            "--json",
            "--strategy",
            "none",
            "--strategy",
            "fixed",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert set(json.loads(ok.stdout)["strategies"]) == {"none", "fixed"}
    bad = runner.invoke(app, ["simulate", "--strategy", "sometimes"])
    assert bad.exit_code == 2 and "sometimes" in bad.stderr


def only(persona_name: str):
    chosen = next(p for p in personas.PERSONAS if p.name == persona_name)
    return (chosen,)


def test_the_fixed_cadence_ignores_promises_and_the_agent_does_not(monkeypatch):
    monkeypatch.setattr(personas, "PERSONAS", only("promiser"))
    monkeypatch.setattr("evals.simulate.P.pick_persona", lambda rng: only("promiser")[0])
    agent = World("agent", accounts=12, days=40, seed=3).run()
    fixed = World("fixed", accounts=12, days=40, seed=3).run()
    assert fixed.trust_violations > 0
    assert agent.trust_violations == 0
    assert agent.messages_sent < fixed.messages_sent


def test_the_agent_answers_the_ap_team_that_needs_an_invoice_copy(monkeypatch):
    monkeypatch.setattr("evals.simulate.P.pick_persona", lambda rng: only("process_bound")[0])
    agent = World("agent", accounts=10, days=45, seed=5).run()
    fixed = World("fixed", accounts=10, days=45, seed=5).run()
    assert fixed.collected == 0  # nobody answers their request: they never pay
    assert agent.collected > 0
