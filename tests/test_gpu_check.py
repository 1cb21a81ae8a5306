"""benchmarks/gpu_check.sh works: its dry run (CPU, tiny sizes) runs every section and reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_dry_run_fills_every_table(tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--json", str(out)],
        capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "all checks passed" in result.stdout and "| segment | kind | fp32 | bf16 |" in result.stdout
    report = json.loads(out.read_text())
    assert report["environment"]["device"] == "cpu"
    assert report["checks"] == {"amp_within_0.05_db": True, "memory_flat": True}
    assert {(r["kind"], type(r["bf16"])) for r in report["amp"]} == {("logo", float), ("blob", float)}
    runs = {(r["run"].split(" (")[0], r["damage"]) for r in report["speed"]}
    assert runs == {("codec only", "empty"), ("per-frame GAN", "logo"), ("per-frame GAN", "blobs"),
                    ("default fix", "logo"), ("default fix", "blobs")}  # fmt: skip
    assert report["speed"][0]["ratio"] == 1.0 and all(r["fps"] > 0 for r in report["speed"])
    short, long = report["memory"]
    assert long["frames"] == 3 * short["frames"] and long["host_peak_mb"] > 0
