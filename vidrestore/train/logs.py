"""What a run leaves to look at: a tqdm bar, metrics.jsonl, PNG sample grids, TensorBoard if installed.

Only rank 0 creates a ``TrainLogger``; other ranks log nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from vidrestore.frames import tensor_to_frames


class TrainLogger:
    """Progress bar with the latest losses, one JSON line per log event, optional TensorBoard."""

    def __init__(
        self, run_dir: Path, total_steps: int, start_step: int, quiet: bool, tensorboard: bool
    ) -> None:
        self.run_dir = run_dir
        self.jsonl = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.bar = tqdm(
            total=total_steps,
            initial=start_step,
            disable=quiet,
            desc="train",
            unit="step",
            dynamic_ncols=True,
        )
        self.quiet = quiet
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:  # tensorboard is optional
                self.writer = None
        self.started = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.bar.update(n)

    def log(self, step: int, values: dict[str, Any], show: bool = True) -> None:
        record = {"step": step, "time_s": round(time.monotonic() - self.started, 1), **values}
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()
        numbers = {k: v for k, v in values.items() if isinstance(v, (int, float))}
        if show:
            short = {k.removeprefix("loss_"): f"{v:.4g}" for k, v in numbers.items() if k.startswith("loss_")}
            self.bar.set_postfix(short, refresh=False)
        if self.writer is not None:
            for key, value in numbers.items():
                self.writer.add_scalar(key, value, step)

    def say(self, message: str) -> None:
        """A line above the bar (printed even when quiet: these are warnings and milestones)."""
        if self.quiet:
            print(message, flush=True)
        else:
            self.bar.write(message)

    def close(self) -> None:
        self.bar.close()
        self.jsonl.close()
        if self.writer is not None:
            self.writer.close()


def save_sample_grid(
    path: Path, frames: torch.Tensor, masks: torch.Tensor, output: torch.Tensor, rows: int = 4
) -> Path:
    """PNG with one row per sample: input (holes in grey), output, target."""
    n = min(rows, len(frames))
    shown_input = frames[:n] * (1 - masks[:n]) + 0.5 * masks[:n]
    columns = [tensor_to_frames(t) for t in (shown_input, output[:n], frames[:n])]
    gap = 4
    lines = []
    for i in range(n):
        tiles = []
        for col in columns:
            tiles += [col[i], np.full((col.shape[1], gap, 3), 255, np.uint8)]
        lines += [
            np.concatenate(tiles[:-1], axis=1),
            np.full((gap, tiles[0].shape[1] * 3 + 2 * gap, 3), 255, np.uint8),
        ]
    grid = np.concatenate(lines[:-1], axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return path
