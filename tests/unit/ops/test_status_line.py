"""gateway.ops.status_line: the line of ``fxgw run --status`` and ``fxgw demo``, rendered from hand-built snapshots."""

from __future__ import annotations

import dataclasses

from gateway.aggregator import BestQuote
from gateway.ops.snapshot import GatewaySnapshot
from gateway.ops.status_line import MAX_BEST_SHOWN, StatusLine
from tests.unit.ops.samples import (
    DISCONNECTED,
    KAFKA,
    NONE_YET,
    RECONNECTED,
    SIM,
    UNAUTHORIZED,
    kafka,
    oanda,
    snapshot,
)

EUR_USD = BestQuote("EUR_USD", 1_085_120_000, "oanda-a", 1_085_140_000, "sim", 2, 0)


def line_after(*snapshots: GatewaySnapshot) -> str:
    """The line of the last snapshot, rendered after all the earlier ones."""
    status_line = StatusLine()
    text = ""
    for state in snapshots:
        text = status_line.render(state)
    return text


def test_first_line_has_uptime_sources_at_0_rejections_and_best_prices() -> None:
    state = snapshot(uptime_s=12.4, best=(EUR_USD,))
    assert line_after(state) == (
        "[    12s] | sim 0 t/s | oanda-a 0 t/s | rejected 3 | EUR_USD 1.08512/1.08514 (oanda-a/sim)"
    )


def test_rates_run_from_the_previous_snapshot() -> None:
    before = snapshot(uptime_s=10.0)
    after = snapshot(
        uptime_s=12.0,
        sources={"sim": dataclasses.replace(SIM, accepted=SIM.accepted + 3000), "oanda-a": oanda(accepted=1100)},
    )
    assert line_after(before, after).startswith("[    12s] | sim 1,500 t/s | oanda-a 100 t/s | ")


def test_a_source_new_since_the_previous_snapshot_counts_from_zero() -> None:
    before = snapshot(uptime_s=10.0, sources={"sim": SIM})
    after = snapshot(uptime_s=11.0, sources={"sim": SIM, "late": dataclasses.replace(SIM, accepted=40)})
    assert " | late 40 t/s | " in line_after(before, after)


def test_collector_state_is_shown_unless_it_runs_and_connection_state_unless_it_delivers() -> None:
    state = snapshot(
        sources={
            "a": oanda(connection=RECONNECTED),
            "b": oanda(connection=NONE_YET),
            "c": oanda(connection=DISCONNECTED),
            "d": oanda(connection=UNAUTHORIZED),
            "e": dataclasses.replace(SIM, state="failed"),
            "f": oanda(state="finished", connection=DISCONNECTED),
        }
    )
    parts = line_after(state).split(" | ")[1:7]
    assert parts == [
        "a 0 t/s",
        "b 0 t/s",
        "c 0 t/s disconnected",
        "d 0 t/s unauthorized",
        "e 0 t/s failed",
        "f 0 t/s finished disconnected",
    ]


def test_rejections_total_all_sources_and_nats_drops_show_when_there_are_some() -> None:
    state = snapshot(nats_ticks_dropped=7, sources={"sim": SIM, "oanda-a": oanda(rejected={"STALE": 4})})
    assert " | rejected 7 dropped 7" in line_after(state)
    assert " | rejected 3 | " in line_after(snapshot(best=(EUR_USD,)))


def test_kafka_shows_its_spool_and_what_went_wrong() -> None:
    assert line_after(snapshot(kafka=dataclasses.replace(KAFKA, spool_pending_records=12))).endswith(
        " | kafka spool 12"
    )
    troubled = kafka(connected=False, spool_pending_records=900, spool_full=True, records_dropped=5)
    assert line_after(snapshot(kafka=troubled)).endswith(" | kafka DOWN spool 900 SPOOL FULL dropped 5 records")


def test_at_most_max_best_shown_best_prices_and_a_crossed_one_is_flagged() -> None:
    crossed = BestQuote("USD_JPY", 151_240_000_000, "sim", 151_234_000_000, "oanda-a", 2, 0)
    others = tuple(dataclasses.replace(EUR_USD, instrument=name) for name in ("GBP_USD", "AUD_USD", "NZD_USD"))
    text = line_after(snapshot(best=(crossed, *others)))
    assert text.count(" (oanda-a/sim)") + text.count(" (sim/oanda-a)") == MAX_BEST_SHOWN
    assert " | USD_JPY 151.240/151.234 (sim/oanda-a) CROSSED | GBP_USD " in text
    assert "NZD_USD" not in text
