"""moto's own SageMaker tests against a live Kiln: fetch them, run them, score and sort the result.

The tests come from moto's source distribution on PyPI at the version pinned in
``requirements/moto.txt`` (``pip download --no-deps --no-binary :all:``), cached under
``.venv-compat/moto-sdist/`` and never committed. They run unchanged in the moto virtualenv with
``TEST_SERVER_MODE=true``, so moto's mock is off and every boto3 client goes to
``moto_server.MotoEndpoint`` (a fresh Kiln per test). Each failure gets the category that
``moto_categories.yaml`` (reviewed, committed) gives its test id:

- a: moto accepts input that AWS rejects
- b: the test asserts moto's own wording or defaults, not AWS's
- c: needs built-in algorithm images or a container backend
- d: a Kiln bug or missing feature that Kiln means to have: fix these
- e: a SageMaker feature or another AWS service outside Kiln's scope

Results go to ``tests/compat/results/moto-report.{json,md}`` (git-ignored).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from .harness import HERE, REQUIREMENTS, VENVS

CATEGORIES_FILE = HERE / "moto_categories.yaml"
RESULTS = HERE / "results"
CATEGORIES = {
    "a": "moto accepts input AWS rejects",
    "b": "asserts moto's own wording or defaults",
    "c": "needs built-in algorithm images / a container backend",
    "d": "Kiln bug or missing feature (to fix)",
    "e": "outside Kiln's scope (other SageMaker features or AWS services)",
    "f": "a SageMaker feature an open Kiln issue builds (named in the reason)",
}


# The short profile: the modules closest to what Kiln serves today (a fixed subset).
class MotoFetchError(RuntimeError):
    """moto's source distribution could not be downloaded or unpacked."""


def pinned_moto() -> str:
    """The moto version the requirements pin (``moto==X``)."""
    match = re.search(r"^moto==(\S+)", (REQUIREMENTS / "moto.txt").read_text(), re.M)
    if match is None:
        raise MotoFetchError("requirements/moto.txt pins no moto==VERSION")
    return match.group(1)


def fetch_moto_tests(version: str) -> Path:
    """A folder holding moto's ``tests/`` (and its pytest settings) for ``version``, cached."""
    target = VENVS / "moto-sdist" / version
    if (target / ".complete").exists():
        return target
    download = VENVS / "moto-sdist" / "download"
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--no-binary", ":all:", f"moto=={version}", "-d", str(download)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    archive = download / f"moto-{version}.tar.gz"
    if done.returncode != 0 or not archive.exists():
        raise MotoFetchError(f"pip download moto=={version} failed: {done.stderr[-2000:]}")
    wanted = re.compile(
        rf"^moto-{re.escape(version)}/"
        r"(pyproject\.toml|tests/(__init__|conftest)\.py|tests/test_sagemaker/[^/]+\.py)$"
    )
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.isfile() and wanted.match(member.name):
                member.name = member.name.split("/", 1)[1]
                tar.extract(member, target, filter="data")
    (target / ".complete").write_text(version)
    return target


def selection(tests_root: Path) -> list[str]:
    """The test files to run: every module of moto's SageMaker tests."""
    folder = tests_root / "tests" / "test_sagemaker"
    return [f"tests/test_sagemaker/{p.name}" for p in sorted(folder.glob("test_*.py"))]


@dataclass
class Outcome:
    """One moto test's result, and for a failure its category."""

    test: str
    outcome: str  # passed | failed | skipped
    message: str = ""
    category: str = ""
    reason: str = ""


def read_junit(path: Path) -> list[Outcome]:
    """Each test case of a JUnit XML file as ``module.py::test`` and its outcome."""
    outcomes = []
    for case in ET.parse(path).iter("testcase"):
        module = case.get("classname", "").split(".")[-1]
        test = f"{module}.py::{case.get('name')}"
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                message = (node.get("message") or node.text or "").strip()
                break
        outcomes.append(Outcome(test, outcome, message[:2000]))
    return outcomes


def load_categories() -> dict[str, dict[str, str]]:
    """Test id (or ``module.py::*``) → {category, reason}, from the reviewed data file."""
    data = yaml.safe_load(CATEGORIES_FILE.read_text()) or {}
    return {str(k): v for k, v in data.items()}


def categorise(outcomes: list[Outcome], categories: dict[str, dict[str, str]]) -> None:
    """Give each failure its category (an exact test id wins over its module's ``*``)."""
    for o in outcomes:
        if o.outcome != "failed":
            continue
        entry = categories.get(o.test) or categories.get(o.test.split("::")[0] + "::*")
        if entry is not None:
            o.category, o.reason = entry["category"], entry["reason"]


def stale_entries(outcomes: list[Outcome], categories: dict[str, dict[str, str]]) -> list[str]:
    """Exact entries for tests that ran and passed: the data file should drop them."""
    passed = {o.test for o in outcomes if o.outcome == "passed"}
    return sorted(t for t in categories if t in passed)


def summarise(outcomes: list[Outcome], stale: list[str]) -> dict[str, Any]:
    """Score and failures by category."""
    ran = [o for o in outcomes if o.outcome != "skipped"]
    by_category: dict[str, list[dict[str, str]]] = defaultdict(list)
    for o in outcomes:
        if o.outcome == "failed":
            by_category[o.category or "uncategorised"].append(
                {"test": o.test, "reason": o.reason, "message": o.message}
            )
    return {
        "score": sum(o.outcome == "passed" for o in ran),
        "ran": len(ran),
        "skipped": len(outcomes) - len(ran),
        "counts": dict(
            Counter(o.category or "uncategorised" for o in ran if o.outcome == "failed")
        ),
        "failures": dict(sorted(by_category.items())),
        "stale_entries": stale,
    }


def write_report(summary: dict[str, Any], outcomes: list[Outcome], meta: dict[str, Any]) -> str:
    """Write the JSON and markdown reports; the text printed as the summary."""
    RESULTS.mkdir(exist_ok=True)
    report = {**meta, **summary, "tests": [asdict(o) for o in outcomes]}
    (RESULTS / "moto-report.json").write_text(json.dumps(report, indent=1))
    lines = [
        f"# moto {meta['moto']} tests/test_sagemaker against Kiln ({meta['profile']} profile)",
        "",
        f"Score: **{summary['score']} of {summary['ran']}** passed"
        f" ({summary['skipped']} skipped by moto itself in server mode).",
        "",
    ]
    for category, failures in summary["failures"].items():
        title = CATEGORIES.get(category, "not in moto_categories.yaml: review and add")
        lines += [f"## ({category}) {title}: {len(failures)}", ""]
        for f in failures:
            first = f["message"].splitlines()[0][:300] if f["message"] else ""
            lines.append(f"- `{f['test']}` — {f['reason']}" if f["reason"] else f"- `{f['test']}`")
            if category in ("d", "uncategorised") and first:
                lines.append(f"  - what happened: `{first}`")
        lines.append("")
    if summary["stale_entries"]:
        lines += ["## Passing now: drop from moto_categories.yaml", ""]
        lines += [f"- `{t}`" for t in summary["stale_entries"]]
    text = "\n".join(lines) + "\n"
    (RESULTS / "moto-report.md").write_text(text)
    return text
