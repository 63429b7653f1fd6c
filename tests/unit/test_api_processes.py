"""How many API processes `paysource serve` runs."""

from __future__ import annotations

import os

import pytest

from paysource.config import Settings
from paysource.entrypoints.api_processes import process_count


def test_the_flag_wins_then_the_setting_then_one_per_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert process_count(Settings(processes=3), 2) == 2
    assert process_count(Settings(processes=3), None) == 3
    assert process_count(Settings(processes=None), None) == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert process_count(Settings(processes=None), None) == 1


def test_the_setting_comes_from_paysource_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSOURCE_PROCESSES", "4")
    assert Settings().processes == 4
