"""CPU per log line, as paysource's logging writes it (one line per request in the API,
about one per payment in the worker), in both formats, beside a yardstick measured in
the same run: a bare `json.dumps` of the same fields.

    ./.venv/bin/python bench/log_line.py [--lines N]

Prints `<format>_us_per_line`, `yardstick_us_per_dumps` and their ratio
(`<format>_over_yardstick`). Lines go to /dev/null: this measures formatting, the work
context's fields and the card-number guard, not a disk.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

from paysource import logs

FIELDS = {
    "request_id": "req_9f3c2a7be41d0c5566e8a1f2",
    "merchant": "mer_4KqT8wXc2NpR7vYbZ3mD",
    "payment": "pay_7HsL2dQw9ZkC4fTnB8xV",
}


def per_line_us(lines: int, *, json_lines: bool) -> float:
    logs.configure("INFO", json_lines=json_lines)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    with open(os.devnull, "w") as sink:
        handler.setStream(sink)
        log = logging.getLogger("paysource.processes.pipeline")
        with logs.scope(**FIELDS):
            began = time.process_time()
            for _ in range(lines):
                log.info("payment authorized")
            return (time.process_time() - began) / lines * 1e6


def dumps_us(lines: int) -> float:
    document = {"ts": "2026-12-07T12:31:28.123+00:00", "message": "payment authorized"}
    document |= FIELDS
    began = time.process_time()
    for _ in range(lines):
        json.dumps(document, ensure_ascii=False)
    return (time.process_time() - began) / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000, help="lines per format (20000)")
    args = parser.parse_args()
    yardstick = dumps_us(args.lines)
    print(f"yardstick_us_per_dumps={yardstick:.1f}")
    for name, json_lines in (("text", False), ("json", True)):
        spent = per_line_us(args.lines, json_lines=json_lines)
        print(f"{name}_us_per_line={spent:.1f}")
        print(f"{name}_over_yardstick={spent / yardstick:.1f}")


if __name__ == "__main__":
    main()
