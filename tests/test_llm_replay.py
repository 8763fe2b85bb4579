"""The LLM path in CI without a model server: ``dunning eval --engine llm --replay`` serves
answers recorded from the local llama.cpp server (``tests/data/llm/recording``, made with
``--record``) through the SDK's real request and parsing code, and never the network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app

DATA = Path(__file__).parent / "data" / "llm"
runner = CliRunner()


@pytest.fixture
def llm_env(settings, monkeypatch):
    # as recorded: the model's name and request parameters are part of each answer's key;
    # the endpoint is not (and here nothing listens there)
    for name, value in {
        "DUNNING_DATABASE_URL": settings.database_url,
        "DUNNING_LLM_MODEL": "smollm2",
        "DUNNING_LLM_BASE_URL": "http://127.0.0.1:9/v1",
        "DUNNING_LLM_RESPONSE_FORMAT": "json_object",
        "DUNNING_LLM_MAX_TOKENS": "200",
    }.items():
        monkeypatch.setenv(name, value)


def test_replayed_model_answers_run_the_llm_path_with_its_guards(llm_env):
    result = runner.invoke(
        app,
        [
            "eval",
            str(DATA / "cases.yaml"),
            "--engine",
            "llm",
            "--replay",
            str(DATA / "recording"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by_id = {case["id"]: case for case in data["cases"]}
    assert data["summary"]["critical_violations"] == 0
    # the recorded model misread the promise; the guards sent it to a person
    assert by_id["promise-friday-01"]["engine"] == "llm:smollm2"
    assert by_id["promise-friday-01"]["got"]["action"] == "escalate"
    # its draft failed verification: the offline template went out, and the log says so
    final = by_id["final-notice-after-escalation"]
    assert final["got"]["action"] == "send" and "offline template" in final["reason"]


def test_a_request_that_was_never_recorded_fails_loudly_instead_of_calling_out(llm_env, tmp_path):
    empty = tmp_path / "recording"
    empty.mkdir()
    result = runner.invoke(
        app,
        ["eval", str(DATA / "cases.yaml"), "--engine", "llm", "--replay", str(empty), "--json"],
    )
    by_id = {case["id"]: case for case in json.loads(result.stdout)["cases"]}
    # no silent offline answer: the email is quarantined, the chase of the account fails
    assert "ReplayMissError" in by_id["promise-friday-01"]["reason"]
    assert by_id["final-notice-after-escalation"]["reason"] == (
        "no decision was made (the pass failed)"
    )
    # what needs no model is unaffected
    assert by_id["final-notice-blocked-by-promise"]["passed"]


def test_the_whole_case_set_replays_through_the_llm_path_without_a_critical_violation(
    llm_env,
):
    cases = Path(__file__).parents[1] / "evals" / "cases"
    recording = Path(__file__).parents[1] / "evals" / "recordings" / "smollm2-135m"
    result = runner.invoke(
        app, ["eval", str(cases), "--engine", "llm", "--replay", str(recording), "--json"]
    )
    data = json.loads(result.stdout)
    missing = [
        c["id"]
        for c in data["cases"]
        if "ReplayMissError" in c["reason"] or c["reason"].startswith("no decision was made")
    ]
    assert not missing, f"no recorded answer for {missing}: record again (see the README)"
    assert data["summary"]["critical_violations"] == 0
    assert result.exit_code == 0
    assert any(c["engine"].startswith("llm:") for c in data["cases"])
