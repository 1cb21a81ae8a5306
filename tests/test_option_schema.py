"""One mapping between `restore()`'s keywords, FixConfig and the CLI's batch mode: no option is
lost on the way (before, `--detect-sensitivity` and then `--track` fell out of batches)."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidrestore import cli
from vidrestore.api import fix_config, restore, restore_options
from vidrestore.config import EncodeOptions, FixConfig, InpaintOptions, MaskOptions
from vidrestore.io.regions import box_specs


def everything_set() -> FixConfig:
    """A config with every option away from its default."""
    return FixConfig(
        input=Path("in.mp4"), output=Path("out.mkv"), mask=Path("m.png"), boxes=box_specs("1,2,3,4@1-2"),
        track="key.png@3", detect=("scratch",), detect_sensitivity={"scratch": 1.5},
        masks=MaskOptions(threshold=100, dilate=5, resize=True),
        inpaint=InpaintOptions(method="telea", weights="w", device="cpu", batch_size=3, precision="bf16",
                               texture=0.5),
        encode=EncodeOptions(codec="libx265", crf=20, preset="fast", lossless=True, pix_fmt="yuv444p",
                             fps=24.0),
        temporal=False, see_through=False, window=2, reach=5, segments=2, workers=2, overwrite=True,
        batch_frames=4, strict=True, progress=True,
    )  # fmt: skip


def test_every_config_field_goes_through_restore_options_and_back() -> None:
    config = everything_set()
    again = fix_config(config.input, config.output, progress=True, **restore_options(config))
    assert again == config


def test_restore_options_names_every_keyword_of_restore() -> None:
    keywords = set(inspect.signature(restore).parameters) - {"input", "output", "make_inpainter", "progress"}
    assert set(restore_options(everything_set())) == keywords
    # the "not given" values of options newer than some batch records are left out
    plain = dataclasses.replace(everything_set(), track=None, detect_sensitivity={}, see_through=None)
    assert "track" not in restore_options(plain) and "detect_sensitivity" not in restore_options(plain)
    assert "see_through" not in restore_options(plain)


def test_fix_config_refuses_an_unknown_option() -> None:
    with pytest.raises(Exception, match="unknown option"):
        fix_config("a.mp4", "b.mp4", dilation=3)


def test_the_cli_batch_mode_passes_every_option(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    class _Report:
        exit_code = 0

        def line(self) -> str:
            return ""

    def fake_run_batch(inputs, output, **options):  # noqa: ANN001, ANN003, ANN202
        seen.update(options)
        return _Report()

    monkeypatch.setattr("vidrestore.batch.run_batch", fake_run_batch)
    (tmp_path / "key.png").write_bytes(b"")
    result = CliRunner().invoke(cli.app, [
        "fix", str(tmp_path / "*.mp4"), "-o", str(tmp_path / "out"), "--track", "key.png@3",
        "--box", "1,2,3,4", "--detect", "scratch", "--detect-sensitivity", "scratch=1.5", "--dilate", "5",
        "--window", "2", "--reach", "5", "--crf", "20", "--batch-frames", "4", "--no-temporal", "-q",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen["track"] == "key.png@3" and seen["detect_sensitivity"] == {"scratch": 1.5}
    assert (seen["box"], seen["dilate"], seen["window"], seen["reach"], seen["crf"], seen["batch_frames"],
            seen["temporal"]) == (("1,2,3,4",), 5, 2, 5, 20, 4, False)  # fmt: skip
    assert "workers" in seen  # the batch's own, not a segment count


def test_the_fix_command_is_restores_keywords_plus_its_own() -> None:
    from vidrestore.fix_options import CLI_ONLY, FIX_OPTIONS, NOT_OPTIONS, fix_parameters

    keywords = [n for n in inspect.signature(restore).parameters if n not in NOT_OPTIONS]
    assert list(FIX_OPTIONS) == keywords  # a new keyword needs its flag and help, in the same order
    names = [p.name for p in fix_parameters()]
    assert names == ["input", "output", *keywords, *CLI_ONLY]
    command = [p.name for p in inspect.signature(cli.fix).parameters.values()]
    assert command == names


def test_every_fix_option_reaches_the_job_as_restore_gives_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """The same options through `vidrestore fix` and through `restore()` make the same job."""
    seen: list[FixConfig] = []

    class _Summary:
        warnings: list[str] = []

        def line(self) -> str:
            return ""

    def fake_run_fix(config: FixConfig, *args: object) -> _Summary:
        seen.append(config)
        return _Summary()

    monkeypatch.setattr("vidrestore.api.run_fix", fake_run_fix)
    config = everything_set()
    options = restore_options(config)
    args = ["fix", str(config.input), "-o", str(config.output)]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            three_state = name in ("temporal", "see_through")
            args += [flag if value else f"--no-{name.replace('_', '-')}"] if three_state else (
                [flag] if value else [])
        elif name == "box":
            for spec in value:  # type: ignore[attr-defined]
                args += [flag, spec]
        elif name == "detect":
            args += [flag, ",".join(value)]  # type: ignore[arg-type]
        elif name == "detect_sensitivity":
            args += [flag, ",".join(f"{k}={v}" for k, v in value.items())]  # type: ignore[attr-defined]
        elif value is not None:
            args += [flag, str(value)]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert seen == [dataclasses.replace(config, progress=True)]


def test_the_readme_lists_every_fix_option() -> None:
    """The README's option table is for users; an option missing there is an option nobody finds."""
    from vidrestore.fix_options import CLI_ONLY, FIX_OPTIONS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme[readme.index("### Options of `fix`") : readme.index("## Guarantees")]
    missing = [name for name in [*FIX_OPTIONS, *CLI_ONLY] if "--" + name.replace("_", "-") not in table]
    assert missing == []
