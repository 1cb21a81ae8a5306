"""The candidates propagation gathers for one frame's hole, and how they are blended into it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Candidates:
    """Candidates for one frame's hole, kept on the hole's bounding box (cheap at 720p).

    Each hole pixel takes the nearest candidate from the past and the nearest from the future;
    the two are blended with weights 1 / temporal distance (as FGVC fuses its two directions),
    which halves the misalignment noise of either and keeps the fill steadier over time. Where the
    two sides disagree, at least one followed a wrong flow (the completed flow inside a hole is
    only a guess), so neither is trusted and the pixel is left to the inpainter.
    """

    box: tuple[int, int, int, int]
    hole: np.ndarray  # bool crop
    need: dict[int, np.ndarray]  # side -> bool crop of pixels still without a candidate from it
    colour: dict[int, np.ndarray]  # side -> float32 (h, w, C) candidate colour
    distance: dict[int, np.ndarray]  # side -> float32 (h, w) frames to the candidate, 0 = none
    age: dict[int, np.ndarray]  # side -> float32 (h, w) frames since the candidate was really seen

    @classmethod
    def start(cls, mask: np.ndarray, box: tuple[int, int, int, int]) -> Candidates:
        y0, y1, x0, x1 = box
        hole = mask[y0:y1, x0:x1]
        sides = (-1, 1)
        return cls(box, hole, {s: hole.copy() for s in sides},
                   {s: np.zeros((*hole.shape, 3), np.float32) for s in sides},
                   {s: np.zeros(hole.shape, np.float32) for s in sides},
                   {s: np.zeros(hole.shape, np.float32) for s in sides})

    def needs(self, side: int) -> bool:
        return bool(self.need[side].any())

    def points(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        ys, xs = np.nonzero(self.need[side])
        return ys + self.box[0], xs + self.box[2]

    def add(self, side: int, ys: np.ndarray, xs: np.ndarray, colours: np.ndarray, distance: int,
            age: np.ndarray) -> None:
        cy, cx = ys - self.box[0], xs - self.box[2]
        self.need[side][cy, cx] = False
        self.colour[side][cy, cx] = colours.reshape(len(cy), -1).astype(np.float32)
        self.distance[side][cy, cx] = distance
        self.age[side][cy, cx] = age

    def found(self) -> np.ndarray:
        """bool crop: pixels with a candidate from either side."""
        return (self.distance[-1] > 0) | (self.distance[1] > 0)

    def merge(self, other: Candidates) -> None:
        """Take ``other``'s candidates where this fill has none."""
        empty = ~self.found() & other.found()
        for side in (-1, 1):
            self.colour[side][empty] = other.colour[side][empty]
            self.distance[side][empty] = other.distance[side][empty]
            self.age[side][empty] = other.age[side][empty]

    def write(self, out: np.ndarray, agreement: float) -> tuple[np.ndarray, np.ndarray]:
        """Blend the candidates into ``out`` (full frame); returns the full-size mask of what is left
        and the age (float32 crop) of what was written.

        Candidates from both sides whose mean channel difference exceeds ``agreement`` levels are
        dropped. The age written is the fresher side's where both agree (the other confirms it).
        """
        y0, y1, x0, x1 = self.box
        past, future = self.distance[-1] > 0, self.distance[1] > 0
        both = past & future
        differ = np.zeros_like(both)
        differ[both] = np.abs(self.colour[-1][both] - self.colour[1][both]).mean(axis=-1) > agreement
        got = (past | future) & ~differ
        inv = {s: np.where(self.distance[s] > 0, 1.0 / np.maximum(self.distance[s], 1), 0.0) for s in (-1, 1)}
        weight = inv[-1] + inv[1]
        blend = (self.colour[-1][got] * inv[-1][got][:, None] + self.colour[1][got] * inv[1][got][:, None])
        out[y0:y1, x0:x1][got] = np.clip(np.round(blend / weight[got][:, None]), 0, 255).astype(out.dtype)
        age = np.where(both, np.minimum(self.age[-1], self.age[1]), np.maximum(self.age[-1], self.age[1]))
        age[~got] = 0
        remaining = np.zeros(out.shape[:2], bool)
        remaining[y0:y1, x0:x1] = self.hole & ~got
        return remaining, age
