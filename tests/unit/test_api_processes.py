"""How many API processes `paysource serve` runs."""

from __future__ import annotations

import os
import socket

import pytest

from paysource.config import Settings
from paysource.entrypoints.api_processes import bind_slots, process_count


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


def test_each_process_gets_its_own_socket_on_one_port() -> None:
    slots = bind_slots("127.0.0.1", 0, 3)
    try:
        assert len({sock.fileno() for sock in slots}) == 3
        assert len({sock.getsockname() for sock in slots}) == 1  # port 0: the first's
        assert all(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for sock in slots)
    finally:
        for sock in slots:
            sock.close()


def test_without_so_reuseport_the_processes_share_one_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(socket, "SO_REUSEPORT")
    slots = bind_slots("127.0.0.1", 0, 3)
    try:
        assert len(slots) == 3
        assert len({id(sock) for sock in slots}) == 1
    finally:
        slots[0].close()


def test_a_port_in_use_stops_serve_with_a_clear_message() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=f"serve cannot bind 127.0.0.1:{port}"):
            bind_slots("127.0.0.1", port, 2)
