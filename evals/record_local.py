"""Record ``evals/cases`` through the LLM engine against the local llama.cpp server
(SmolLM2-135M, see ``evals/local_model.py``) into ``evals/recordings/smollm2-135m``: the
recording the tests replay. ``make record-llm`` runs it; answers already recorded are
kept, so an interrupted recording resumes. It takes about 35 minutes on two cores.

Delete the directory first to record afresh (after a change to a prompt, a response
schema or the request parameters, the old answers no longer match any request)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from evals.local_model import LlamaServer

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "evals" / "recordings" / "smollm2-135m"
SETTINGS = {
    # the replay test sets the same: they are part of every answer's key
    "DUNNING_LLM_MODEL": LlamaServer.alias,
    "DUNNING_LLM_RESPONSE_FORMAT": "json_object",
    "DUNNING_LLM_MAX_TOKENS": "200",
    "DUNNING_LLM_TIMEOUT": "120",
    "DUNNING_WORKERS": "1",
}


def main() -> int:
    with LlamaServer() as server, tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            **SETTINGS,
            "DUNNING_LLM_BASE_URL": server.base_url,
            "DUNNING_DATABASE_URL": f"sqlite:///{scratch}/record.db",
        }
        command = [
            str(Path(sys.executable).with_name("dunning")),
            "eval",
            str(ROOT / "evals" / "cases"),
            "--engine",
            "llm",
            "--record",
            str(RECORDING),
            "--report",
            str(RECORDING.parent / "smollm2-135m.md"),
        ]
        return subprocess.run(command, env=env, cwd=ROOT).returncode


if __name__ == "__main__":
    raise SystemExit(main())
