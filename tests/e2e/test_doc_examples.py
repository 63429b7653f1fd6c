"""Every curl example in docs/*.md runs against a live server and succeeds (issue 14,
item 11: docs and behaviour agree).

Examples are the lines with `curl` in fenced `sh` blocks (backslash-continued lines
joined), run in file order by bash with `set -o pipefail` and `curl --fail-with-body`,
so an HTTP error, a failing `grep` or a broken pipe fails the example. The variables
the docs use (`$B`, `$AUTH`, `$KEY`, `$ADMIN`, `$ADMIN_KEY`, `$JSON`, `$CUS`, `$PAY`)
are set from a merchant made for the run; an id left as a placeholder (`we_…`) becomes
the first id of that kind the run has seen; ISO times in request bodies become now
(a settlement's cut-off must have passed, and be after the payments it settles).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from paysource.bootstrap import Container
from paysource.entrypoints.worker import Worker
from tests.conftest import ADMIN_KEY
from tests.helpers import live_server

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^```(?:sh|bash|shell)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PLACEHOLDER = re.compile(r"\b(mer|cus|pay|re|stl|dp|we|whd|evt)_…")
AN_ID = re.compile(r"\b(mer|cus|pay|re|stl|dp|we|whd|evt)_[0-9a-f]{24,32}\b")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
# Examples that document a refusal: what they must answer instead of success.
REFUSALS = {
    # "after a disable": on an enabled endpoint the documented answer is this 409.
    "/enable": "webhook_endpoint_not_disabled",
}


@dataclass(frozen=True)
class Example:
    doc: str
    line: int
    command: str

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"


@dataclass
class Run:
    env: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)

    def prepared(self, command: str) -> str:
        def known(match: re.Match[str]) -> str:
            prefix = match.group(1)
            assert prefix in self.ids, f"no {prefix}_ id seen before this example"
            return self.ids[prefix]

        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return ISO_TIME.sub(now, PLACEHOLDER.sub(known, command))

    def learn(self, output: str) -> None:
        for match in AN_ID.finditer(output):
            self.ids.setdefault(match.group(1), match.group(0))


def examples(doc: Path) -> list[Example]:
    """The curl commands of the doc's shell blocks, in order."""
    text = doc.read_text()
    found = []
    for block in FENCE.finditer(text):
        first_line = text.count("\n", 0, block.start(1)) + 1
        lines = block.group(1).split("\n")
        index = 0
        while index < len(lines):
            start, command = index, lines[index]
            while command.endswith("\\") and index + 1 < len(lines):
                index += 1
                command = command[:-1] + " " + lines[index].strip()
            index += 1
            stripped = command.strip()
            if "curl " in stripped and not stripped.startswith(("#", "$ ")):
                found.append(Example(doc.name, first_line + start, stripped))
    return found


DOCUMENTED = {doc.name: examples(doc) for doc in sorted(DOCS.glob("*.md"))}
WITH_EXAMPLES = [name for name, found in DOCUMENTED.items() if found]


def bash(
    command: str, env: dict[str, str], *, strict: bool, cwd: Path
) -> subprocess.CompletedProcess[str]:
    prelude = "set -o pipefail\n"
    if strict:
        prelude += 'curl() { command curl --fail-with-body "$@"; }\n'
    return subprocess.run(
        ["bash", "-c", prelude + command],
        env={**os.environ, **env},
        cwd=cwd,  # examples write files (key.json…): keep them out of the checkout
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def run(container: Container) -> Iterator[Run]:
    """A live server with its worker, and a merchant with a customer, a captured
    payment and a webhook endpoint with a delivery, for the examples to refer to."""
    worker = Worker(container)
    worker.start()
    try:
        with live_server(container) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield seeded(client, url)
    finally:
        worker.stop()


def seeded(client: httpx.Client, url: str) -> Run:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    merchant = client.post("/v1/merchants", json={"name": "Docs"}, headers=admin).json()
    auth = {"Authorization": f"Bearer {merchant['api_key']}"}
    customer = client.post("/v1/customers", json={"name": "Ada"}, headers=auth).json()
    endpoint = client.post(
        "/v1/webhook_endpoints",
        json={"url": "http://127.0.0.1:9/hooks", "events": ["*"]},
        headers=auth,
    ).json()
    body = {"amount": 2500, "currency": "USD", "source": "tok_visa", "customer": customer["id"]}
    headers = {**auth, "Idempotency-Key": "docs-seed", "Prefer": "wait=5"}
    payment = client.post("/v1/payments", json=body, headers=headers).json()
    assert payment["status"] == "succeeded", payment
    run = Run(
        env={
            "B": url,
            "KEY": merchant["api_key"],
            "AUTH": f"Authorization: Bearer {merchant['api_key']}",
            "ADMIN_KEY": ADMIN_KEY,
            "ADMIN": f"Authorization: Bearer {ADMIN_KEY}",
            "JSON": "Content-Type: application/json",
            "CUS": customer["id"],
            "PAY": payment["id"],
        },
    )
    run.learn(json.dumps([merchant["id"], customer["id"], payment["id"], endpoint["id"]]))
    run.learn(first_delivery(client, auth, endpoint["id"]))
    wait_for_a_signed_head(client, admin)
    return run


def first_delivery(client: httpx.Client, auth: dict[str, str], endpoint: str) -> str:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        listed = client.get(f"/v1/webhook_endpoints/{endpoint}/deliveries", headers=auth)
        if listed.json()["data"]:
            return str(listed.json()["data"][0]["id"])
        time.sleep(0.1)
    raise AssertionError("no webhook delivery was queued")


def wait_for_a_signed_head(client: httpx.Client, admin: dict[str, str]) -> None:
    """audit.md's examples verify proofs against the latest signed tree head."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if client.get("/v1/audit/tree_heads?limit=1", headers=admin).json()["data"]:
            return
        time.sleep(0.1)
    raise AssertionError("the worker signed no tree head")


def test_the_docs_have_curl_examples() -> None:
    assert len(WITH_EXAMPLES) >= 4, DOCUMENTED.keys()
    assert sum(len(found) for found in DOCUMENTED.values()) >= 12


EVENTUAL_RUNS = 4  # runs of a `sleep N; …` example before it fails


@pytest.mark.parametrize("doc", WITH_EXAMPLES)
def test_every_curl_example_of_the_doc_works(run: Run, doc: str, tmp_path: Path) -> None:
    failures = []
    for example in DOCUMENTED[doc]:
        command = run.prepared(example.command)
        refusal = next((code for path, code in REFUSALS.items() if path in command), None)
        # "sleep 1; curl …" reads a view the worker fills. On a loaded machine (two test
        # processes) it can need longer: run it again, as its reader would.
        for _ in range(EVENTUAL_RUNS if command.startswith("sleep ") else 1):
            done = bash(command, run.env, strict=refusal is None, cwd=tmp_path)
            output = done.stdout + done.stderr
            ok = refusal in output if refusal is not None else done.returncode == 0
            if ok:
                break
        if not ok:
            failures.append(f"{example} exit {done.returncode}: {command}\n{output[-800:]}")
        run.learn(done.stdout)
    assert not failures, "\n\n".join(failures)


PROBLEM_ROW = re.compile(r"^\| (\d{3}) \| (.+?) \|", re.MULTILINE)


def documented_statuses(doc: str) -> dict[str, set[str]]:
    """Problem type → the statuses a doc's tables give it."""
    statuses: dict[str, set[str]] = {}
    for status, types in PROBLEM_ROW.findall((DOCS / doc).read_text()):
        for code in re.findall(r"`([a-z_]+)`", types):
            statuses.setdefault(code, set()).add(status)
    return statuses


def test_the_docs_give_each_problem_type_one_status() -> None:
    merged: dict[str, set[str]] = {}
    for doc in ("api.md", "webhooks.md"):
        for code, statuses in documented_statuses(doc).items():
            merged.setdefault(code, set()).update(statuses)
    assert merged["webhook_endpoint_limit"] == {"409"}
    assert {code: s for code, s in merged.items() if len(s) > 1} == {}
