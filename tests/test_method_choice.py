"""`--method auto`: the generator (checked per hole against Telea/NS) only when its model card says it
is never worse than the classical fill."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import pytest

import vidrestore.api as api
from vidrestore.inpaint.registry import InpaintOptions


@pytest.mark.parametrize("card,expected", [
    (None, "telea"),
    ({"evaluation": {"quality_bar_met": False}}, "telea"),
    ({"evaluation": {"quality_bar_met": True}}, "checked"),
    ({"evaluation": {"quality_bar_met": False, "never_worse_than_classical": True}}, "checked"),
    ({"evaluation": {"quality_bar_met": False, "never_worse_than_classical": False}}, "telea"),
])
def test_auto_follows_the_default_model_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              card: dict | None, expected: str) -> None:
    if card is not None:
        (tmp_path / "default.safetensors").write_bytes(b"x")
        (tmp_path / "default.json").write_text(json.dumps(card))
    monkeypatch.setattr(importlib.resources, "files", lambda _: tmp_path)
    assert api.resolve_method(InpaintOptions(method="auto")).method == expected


def test_explicit_choices_are_kept() -> None:
    assert api.resolve_method(InpaintOptions(method="ns")).method == "ns"
    assert api.resolve_method(InpaintOptions(method="auto", weights="my.safetensors")).method == "checked"


@pytest.mark.parametrize("dilate,feather", [(0, 0), (1, 1), (3, 3), (8, 3)])
def test_the_gan_seam_band_stays_inside_the_grown_margin(tmp_path: Path, dilate: int, feather: int) -> None:
    """Deeper than the growth, a hole pixel is damage: blending the frame back in there would keep
    some of it, so the band is capped at --dilate (and detections are grown by it too)."""
    from clips import make_clip

    from vidrestore.config import FixConfig, MaskOptions

    make_clip(tmp_path / "in.mp4", frames=4, audio=False)
    config = FixConfig(
        input=tmp_path / "in.mp4",
        output=tmp_path / "out.mp4",
        detect=("blotch",),
        masks=MaskOptions(dilate=dilate),
        inpaint=InpaintOptions(method="gan"),
    )
    job = api.prepare_job(config)
    try:
        assert job.stages.inpaint.inpainter.settings.feather == feather
        assert job.stages.detector is not None and job.stages.detector.options.grow == dilate
    finally:
        job.source.close()
