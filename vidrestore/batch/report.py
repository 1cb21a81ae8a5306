"""What a batch did, per input: status, frames, seconds, error; written as one JSON file at the end."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vidrestore.io.atomic import temp_path_for

STATUSES = ("done", "skipped", "failed", "interrupted")
REPORT_NAME = "vidrestore-report.json"


@dataclass
class JobResult:
    """The outcome of one input. ``skipped``: a verified complete output was already there."""

    input: str
    output: str
    status: str  # done, skipped, failed; interrupted when the batch stopped before it ran
    frames: int = 0
    seconds: float = 0.0  # time spent on this input in this run
    error: str | None = None  # one line
    attempts: int = 0
    method: str | None = None
    warnings: list[str] = field(default_factory=list)
    av_offset_ms: float | None = None  # the output's audio/video offset against the source's
    retryable: bool = False  # worth another attempt (not a property of the input or its options)

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("retryable")
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass
class BatchReport:
    """Every input of a batch in the order they were listed, with the totals and the exit status."""

    results: list[JobResult]
    seconds: float = 0.0
    runner: str = "local"  # "local" or "ray"
    workers: int = 1
    path: Path | None = None  # where the JSON report was written

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[JobResult]:
        return [r for r in self.results if r.status != "done" and r.status != "skipped"]

    @property
    def exit_code(self) -> int:
        """0 when every input is done or skipped, 1 when any failed (or was not reached)."""
        return 1 if self.failed else 0

    @property
    def frames(self) -> int:
        return sum(r.frames for r in self.results if r.status == "done")

    def line(self) -> str:
        text = (f"{len(self.results)} inputs: {self.count('done')} done, {self.count('skipped')} skipped, "
                f"{self.count('failed')} failed")
        if self.count("interrupted"):
            text += f", {self.count('interrupted')} not run (interrupted)"
        text += f" in {self.seconds:.1f}s ({self.frames} frames repaired)"
        if self.path is not None:
            text += f"; report: {self.path}"
        return text

    def to_dict(self) -> dict[str, object]:
        from vidrestore._version import __version__

        return {
            "vidrestore": __version__,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "runner": self.runner, "workers": self.workers, "seconds": round(self.seconds, 3),
            "inputs": len(self.results), **{status: self.count(status) for status in STATUSES},
            "results": [r.to_dict() for r in self.results],
        }

    def write(self, path: Path) -> Path:
        """Write the report as JSON, atomically (a reader never sees half a report)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = temp_path_for(path)
        try:
            temp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        self.path = path
        return path


def one_line(text: str) -> str:
    """Error messages go in the report and on the terminal as one line."""
    return " ".join(str(text).split())
