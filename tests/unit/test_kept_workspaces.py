"""A failed upload's workspace: what is kept, until when, and what the job says."""

from __future__ import annotations

from pathlib import Path

from kiln.services.training.kept_workspaces import KeptWorkspace, keep


def test_keep_trims_what_can_be_fetched_again_and_keeps_the_model(tmp_path: Path) -> None:
    root = tmp_path / "job"
    for relative in (
        "algo-1/model/model.pkl",
        "algo-1/output/data/metrics.json",
        "algo-1/input/data/train/big.csv",
        "algo-1/.venv/bin/python",
        "model.tar.gz",
        "merged-model/model.pkl",
    ):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("x")
    kept = keep(root, hours=2, now=1000.0)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == ["algo-1/model/model.pkl", "algo-1/output/data/metrics.json"]
    assert kept == KeptWorkspace(root, 1000.0 + 2 * 3600)


def test_kept_workspace_round_trips_through_a_job_state(tmp_path: Path) -> None:
    state: dict[str, object] = {"kiln": {"launched": True}}
    KeptWorkspace(tmp_path, 1234.5).record_in(state)
    assert KeptWorkspace.of(state) == KeptWorkspace(tmp_path, 1234.5)
    assert KeptWorkspace.of({"kiln": {}}) is None


def test_note_names_the_folder_the_time_and_the_setting(tmp_path: Path) -> None:
    note = KeptWorkspace(tmp_path, 0.0).note()
    assert str(tmp_path) in note
    assert "1970-01-01 00:00 UTC" in note
    assert "KILN_FAILED_UPLOAD_KEEP_HOURS" in note
