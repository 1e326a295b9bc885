"""`assay serve`: run the local OpenAI-compatible demo server until Ctrl+C."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import click

from core.common.files import atomic_write


def _fault(value: str) -> dict[str, Any]:
    """KIND[:RATE[:RETRY_AFTER]][@MODEL]; RETRY_AFTER may be an HTTP-date (it contains colons)."""
    spec, _, model = value.partition("@")
    kind, _, rest = spec.partition(":")
    rate, _, retry_after = rest.partition(":")
    rule: dict[str, Any] = {"kind": kind}
    if rate:
        try:
            rule["rate"] = float(rate)
        except ValueError:
            raise click.BadParameter(f"rate {rate!r} in {value!r} is not a number", param_hint="--fault") from None
    if retry_after:
        rule["retry_after"] = retry_after
    if model:
        rule["model"] = model
    return rule


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0 = any free port; see --port-file).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host.")
@click.option("--latency-ms", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Extra latency added to every answer.")
@click.option("--latency-jitter-ms", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Up to this much extra latency, drawn from the seeded generator.")
@click.option("--latency-scale", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Multiplier for each demo model's own latency (0 = instant).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for fault, jitter and flip draws.")
@click.option("--flip-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Make this share of answers wrong, each independently (measurement noise for --repeat runs).")
@click.option("--rpm-limit", type=click.IntRange(min=1), help="Reject chat requests above this many per 60 s.")
@click.option("--fault", "faults", multiple=True, metavar="KIND[:RATE[:RETRY_AFTER]][@MODEL]",
              help="Inject a fault (repeatable). KIND: 429 quota 500 503 401 400 hang reset truncate bad_json.")
@click.option("--api-key", help="Require 'Authorization: Bearer KEY' (by default any key, or none, is accepted).")
@click.option("--port-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the bound port to this file once listening.")
def serve(port: int, host: str, allow_remote: bool, latency_ms: float, latency_jitter_ms: float,
          latency_scale: float, seed: int, flip_rate: float, rpm_limit: int | None, faults: tuple[str, ...],
          api_key: str | None, port_file: Path | None) -> None:
    """Run Assay's OpenAI-compatible demo server (deterministic demo models, fault injection).

    Point any OpenAI client at http://HOST:PORT/v1; litellm model ids are openai/demo-strong,
    openai/demo-fast, openai/demo-flaky, openai/demo-judge and openai/demo-badjudge. Control
    endpoints: POST /_assay/config, GET /_assay/stats, POST /_assay/reset.
    """
    import asyncio

    from demo.serve.state import ServerState

    if not _loopback(host) and not allow_remote:
        raise click.BadParameter(f"{host} is not a loopback address; add --allow-remote to bind it", param_hint="--host")
    try:
        state = ServerState(latency_ms=latency_ms, latency_jitter_ms=latency_jitter_ms, latency_scale=latency_scale,
                            seed=seed, flip_rate=flip_rate, rpm_limit=rpm_limit, api_key=api_key,
                            faults=[_fault(f) for f in faults])
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if not _loopback(host) and api_key is None:
        click.echo(f"warning: serving on {host} without --api-key: anyone who can reach it can use it", err=True)
    try:
        asyncio.run(_serve(state, host, port, port_file))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    click.echo("Assay demo server stopped", err=True)


async def _serve(state: Any, host: str, port: int, port_file: Path | None) -> None:
    import asyncio
    import signal

    from demo.serve.demo_models import MODELS
    from demo.serve.http import HttpServer

    server = HttpServer(state)
    bound = await server.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if port_file is not None:
            atomic_write(port_file, f"{bound}\n")  # a script polling the file never reads half a port
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"Assay demo server on http://{shown}:{bound}/v1 (models: {', '.join(MODELS)})", err=True)
        await stop.wait()
    finally:
        await server.close()
        if port_file is not None:
            port_file.unlink(missing_ok=True)  # a stale port file would point scripts at nothing


def register(cli: click.Group) -> None:
    cli.add_command(serve)
