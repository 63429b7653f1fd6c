"""`paysource rates load` and `rates list`: exact decimals, loaded whole or not at all,
and loading the same file again changes nothing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from paysource.config import Settings
from paysource.entrypoints.cli import cli
from tests.e2e.test_cli import env_for, paysource

RATES = (
    "base,quote,rate,valid_from\n"
    "USD,EUR,0.921534,2026-12-01T00:00:00Z\n"
    "USD,JPY,155.2,2026-12-01T00:00:00Z\n"
)


def listed(env: dict[str, str]) -> list[dict[str, str]]:
    result = paysource("rates", "list", env=env)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, str]] = json.loads(result.stdout)
    return rows


def test_rates_load_once_list_exactly_and_reload_changes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    env = env_for(settings)
    path = tmp_path / "rates.csv"
    path.write_text(RATES, encoding="utf-8")

    first = paysource("rates", "load", str(path), env=env)
    again = paysource("rates", "load", str(path), env=env)

    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "rates=2 loaded=2 unchanged=0"
    assert again.stdout.strip() == "rates=2 loaded=0 unchanged=2"
    assert [(r["base"], r["quote"], r["rate"]) for r in listed(env)] == [
        ("USD", "EUR", "0.921534"),  # every digit, no float on the way
        ("USD", "JPY", "155.2"),
    ]
    csv_out = paysource("rates", "list", "--format", "csv", env=env)
    assert csv_out.stdout.splitlines()[0] == "base,quote,rate,valid_from,source"


def test_a_file_name_a_spreadsheet_would_run_is_listed_as_text(
    settings: Settings, tmp_path: Path
) -> None:
    env = env_for(settings)
    path = tmp_path / "@SUM(1+1)*cmd.csv"
    path.write_text(RATES, encoding="utf-8")
    assert paysource("rates", "load", str(path), env=env).returncode == 0

    csv_out = paysource("rates", "list", "--format", "csv", env=env)

    sources = {row["source"] for row in csv.DictReader(io.StringIO(csv_out.stdout))}
    assert sources == {"'@SUM(1+1)*cmd.csv"}


def test_a_malformed_file_is_refused_whole_with_its_line_and_reason(
    settings: Settings, tmp_path: Path
) -> None:
    env = env_for(settings)
    path = tmp_path / "bad.csv"
    path.write_text(RATES + "USD,GBP,0.79,2026-12-01T00:00:00Z\nUSD,CHF,0.8x,2026-12-01\n")

    refused = paysource("rates", "load", str(path), env=env)

    assert refused.returncode != 0
    assert "line 5" in refused.stderr
    assert "decimal" in refused.stderr
    assert listed(env) == []  # not even the good lines before it
    changed = tmp_path / "changed.csv"
    changed.write_text(RATES, encoding="utf-8")
    assert paysource("rates", "load", str(changed), env=env).returncode == 0
    changed.write_text(RATES.replace("155.2", "150"), encoding="utf-8")
    conflicting = paysource("rates", "load", str(changed), env=env)
    assert conflicting.returncode != 0
    assert "line 3" in conflicting.stderr
    assert [r["rate"] for r in listed(env)] == ["0.921534", "155.2"]


def test_the_rates_commands_are_described_with_examples() -> None:
    group = cli.commands["rates"]
    assert group.help
    for name in ("load", "list"):
        command = group.commands[name]  # type: ignore[attr-defined]
        assert "Example" in (command.help or "")
