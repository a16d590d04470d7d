"""``kiln monitor …``: Model Monitor from the command line.

    kiln monitor traffic ENDPOINT [--since 1h] [--period 5m] [--json]   per variant, over time
    kiln monitor drift ENDPOINT [--since 1d] [--period 1h] [--json]     per feature, over time

Registered in ``kiln.cli`` (whose error reporting and session it uses) as the ``monitor`` group.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

# Made before ``kiln.cli`` is imported: it imports this module back to register the group, and
# finds the group whichever of the two was imported first.
monitor_app = typer.Typer(
    no_args_is_help=True, help="Model Monitor: traffic and drift over time, retraining rules."
)

from kiln.charts import drift_table, traffic_table  # noqa: E402
from kiln.cli import _reports_errors, _session  # noqa: E402
from kiln.sdk.timeline import endpoint_timeline  # noqa: E402
from kiln.services.monitoring.timeline.points import Timeline  # noqa: E402
from kiln.services.monitoring.timeline.window import parse_duration  # noqa: E402

_Endpoint = Annotated[str, typer.Argument(help="Endpoint name.")]
_Since = Annotated[str, typer.Option(help="How far back: 90s, 30m, 6h, 2d, 1w.")]
_Period = Annotated[
    str | None, typer.Option(help="Per point: 1m, 5m, 1h, … (default: at most 60 points).")
]
_Json = Annotated[bool, typer.Option("--json", help="Print the timeline's JSON, not a chart.")]


@monitor_app.command("traffic")
@_reports_errors
def traffic(
    endpoint: _Endpoint, since: _Since = "1h", period: _Period = None, as_json: _Json = False
) -> None:
    """Invocations, model latency and errors per variant over time, as terminal charts."""
    timeline = _timeline(endpoint, since, period)
    if as_json:
        _print_json(timeline)
    elif not timeline.variants:
        typer.echo(f"No invocations of {endpoint} in the last {since}.")
    else:
        console = Console(highlight=False)
        console.print(traffic_table(timeline, console.width))


@monitor_app.command("drift")
@_reports_errors
def drift(
    endpoint: _Endpoint, since: _Since = "1d", period: _Period = None, as_json: _Json = False
) -> None:
    """Drift metrics per feature over time, as the endpoint's monitoring schedules publish them."""
    timeline = _timeline(endpoint, since, period)
    if as_json:
        _print_json(timeline)
    elif not timeline.features:
        typer.echo(
            f"No drift metrics for {endpoint} in the last {since} (a data-quality monitoring"
            " schedule publishes them after each execution)."
        )
    else:
        console = Console(highlight=False)
        console.print(drift_table(timeline, console.width))


def _timeline(endpoint: str, since: str, period: str | None) -> Timeline:
    seconds = parse_duration(since, "--since")
    every = None if period is None else parse_duration(period, "--period")
    return endpoint_timeline(endpoint, seconds, period=every, session=_session())


def _print_json(timeline: Timeline) -> None:
    typer.echo(json.dumps(timeline.to_document(), indent=2))
