"""/metrics speaks Prometheus' text format for any number of cells."""

from __future__ import annotations

from paysource.readmodels.maintenance import CellFigures, Status, metrics_text


def cell(name: str, relay_failed: int) -> CellFigures:
    statuses = [
        Status("payments", position=10, head=12, lag_events=2, lag_seconds=0.5),
        Status("ledger", position=12, head=12, lag_events=0, lag_seconds=0.0),
    ]
    return CellFigures(name=name, statuses=statuses, relay_failed=relay_failed)


def test_each_metric_is_typed_once_and_has_a_sample_per_cell_and_projection() -> None:
    lines = metrics_text([cell("c0", 0), cell("c1", 3)]).splitlines()

    types = [line for line in lines if line.startswith("# TYPE")]
    assert len(types) == len(set(types)) == 4
    assert 'paysource_projection_lag_events{cell="c1",projection="payments"} 2' in lines
    assert 'paysource_projection_position{cell="c0",projection="ledger"} 12' in lines
    assert 'paysource_payments_relay_failed{cell="c1"} 3' in lines
    samples = [line for line in lines if not line.startswith("#")]
    assert len(samples) == 3 * 2 * 2 + 2


def test_samples_follow_their_type_line() -> None:
    # The format wants a metric's samples grouped after its TYPE line.
    current, samples = None, 0
    for line in metrics_text([cell("c0", 1), cell("c1", 0)]).splitlines():
        if line.startswith("# TYPE"):
            current = line.split()[2]
        elif not line.startswith("#"):
            assert line.split("{")[0] == current
            samples += 1
    assert samples == 3 * 2 * 2 + 2
