"""``dunning daemon``: the chase on a schedule and the inbox watched, until SIGTERM."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.cli import app, clock_from, engine_for, fail, settings
from agent.daemon import DaemonOptions, Shutdown, run_daemon, setup_logging
from agent.runtime import open_runtime
from tools import leases


@app.command()
def daemon(
    every: Annotated[
        float | None,
        typer.Option("--every", help="Seconds between chase passes (DUNNING_DAEMON_PASS_SECONDS)."),
    ] = None,
    http: Annotated[
        str | None,
        typer.Option("--http", help="HOST:PORT for /healthz and /metrics (DUNNING_DAEMON_HTTP)."),
    ] = None,
    worker_id: Annotated[
        str | None,
        typer.Option("--worker-id", help="This worker's name in leases (DUNNING_WORKER_ID)."),
    ] = None,
    no_inbox: Annotated[
        bool, typer.Option("--no-inbox", help="Chase only; another process reads the inbox.")
    ] = False,
    until_idle: Annotated[
        bool,
        typer.Option("--until-idle", help="Exit once nothing is due and nothing new came."),
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Run as of this date or timestamp.")
    ] = None,
    log_format: Annotated[
        str, typer.Option("--log-format", help="json (one object per line) or text.")
    ] = "json",
) -> None:
    """Run as a service: chase passes on a schedule, replies as they come, JSON logs."""
    if log_format not in ("json", "text"):
        raise fail(f"--log-format: {log_format!r} is not json or text", 2)
    current = settings()
    engine = engine_for(current)
    clock = clock_from(as_of, current)
    options = DaemonOptions(
        worker=worker_id or current.worker_id or leases.worker_id(),
        pass_every=every if every is not None else current.daemon_pass_seconds,
        lease_seconds=current.lease_seconds,
        watch_inbox=not no_inbox,
        until_idle=until_idle,
        http=http or current.daemon_http,
        prune_every=current.prune_hours * 3600,
    )
    setup_logging(log_format)
    shutdown = Shutdown()
    shutdown.install()
    try:
        with open_runtime(current, clock=clock, engine=engine) as runtime:
            code = run_daemon(runtime, options, shutdown)
    except (ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code)


@app.command("prune-checkpoints")
def prune_checkpoints() -> None:
    """Drop the chase threads nobody needs (all but those waiting for an approval and
    those a worker holds now); the daemon does this every prune_hours."""
    current = settings()
    engine = engine_for(current)
    with open_runtime(current, engine=engine) as runtime:
        gone = runtime.prune_checkpoints()
    print(f"pruned {gone} chase thread(s)")
