"""What a `fix` run did: the summary the API returns and the CLI prints as its last line.

A module of its own because the single-pass job, the segmented one and the batch worker all make
or read one, and none of them should import another for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RestoreSummary:
    """What a `fix` run did, for the CLI's last line and for callers."""

    input: str
    output: str
    method: str
    frames: int
    masked_frames: int
    masked_fraction: float  # share of all pixels that were filled
    seconds: float
    fps: float
    propagated_fraction: float = 0.0  # share of hole pixels filled from neighbouring frames
    seen_through_fraction: float = 0.0  # share of all pixels where a semi-transparent logo was undone
    bad_packets: int = 0
    detected: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # how far the output's sound moved against its picture, compared with the source (ms,
    # measured on the written file; None without audio or for frame folders)
    av_offset_ms: float | None = None

    def _how(self) -> str:
        if self.propagated_fraction > 0:
            share = f"{100 * self.propagated_fraction:.0f}%"
            return f", {share} of them from neighbouring frames, the rest by {self.method}"
        return f" by {self.method}"

    def line(self) -> str:
        text = (
            f"{self.frames} frames ({self.masked_frames} with holes, "
            f"{100 * self.masked_fraction:.2f}% of pixels filled{self._how()}) "
            f"in {self.seconds:.1f}s, {self.fps:.1f} fps -> {self.output}"
        )
        if self.seen_through_fraction > 0:
            text += f"; {100 * self.seen_through_fraction:.2f}% seen through a semi-transparent logo"
        for kind, fraction in self.detected.items():
            text += f"; detected {kind}: {100 * fraction:.3f}% of pixels"
        if self.av_offset_ms is not None:
            text += f"; audio/video offset {self.av_offset_ms:+.1f} ms against the source"
        if self.bad_packets:
            text += f"; {self.bad_packets} corrupt packet(s) in the input were skipped"
        return text
