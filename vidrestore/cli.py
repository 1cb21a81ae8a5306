"""`vidrestore` command line: a thin typer layer that parses options and calls the Python API."""

from __future__ import annotations

import inspect
import signal
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from vidrestore._version import __version__
from vidrestore.errors import VidrestoreError

app = typer.Typer(
    name="vidrestore",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Repair damaged video: fill masked or detected damage so that nobody notices.",
)
T = TypeVar("T")


def guarded(debug: bool, action: Callable[[], T]) -> T:
    """Run ``action``; user errors become one line on stderr and a non-zero exit (traceback: --debug)."""
    try:
        return action()
    except VidrestoreError as exc:
        if debug:
            raise
        typer.echo(f"vidrestore: error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("vidrestore: interrupted; no output was written", err=True)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # noqa: BLE001 - last line of defence for the user
        if debug:
            raise
        typer.echo(
            f"vidrestore: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
            err=True,
        )
        raise typer.Exit(1) from None


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:  # noqa: ANN401 - warnings' signature
    """Warnings (a precision this device cannot run, a batch lowered after out-of-memory) as one
    line like the command's other messages, without Python's file name and echoed source line."""
    typer.echo(f"vidrestore: warning: {message}", err=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vidrestore {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Repair damaged video."""
    warnings.showwarning = _warning_line


@app.command(
    epilog=(
        "Examples:\n\n"
        "  vidrestore fix clip.mp4 --mask logo.png -o clean.mp4\n\n"
        "  vidrestore fix clip.mp4 --box 100,10,60,30@00:00:05-00:01:20 -o clean.mp4\n\n"
        "  vidrestore fix clip.mp4 --mask masks/ -o frames_out/ --method telea\n\n"
        "  vidrestore fix scan/ --mask masks/ --fps 24 -o restored.mkv --lossless\n\n"
        "  vidrestore fix film.mp4 --detect scratch,blotch -o restored.mp4"
    )
)
def fix(**values: Any) -> None:
    """Repair INPUT into OUTPUT, changing only the pixels inside the masks.

    The output keeps the input's frame count, size, frame rate, timestamps, rotation, colour tags,
    audio and subtitles. It is written to a hidden temp file and renamed when complete.
    """
    from vidrestore.api import fix_config, run_fix
    from vidrestore.batch import is_batch_input
    from vidrestore.fix_options import CLI_ONLY

    cli = {name: values.pop(name) for name in CLI_ONLY}
    debug, quiet = cli["debug"], cli["quiet"]
    source = values.pop("input")
    # the options are restore()'s keywords: one mapping to the job for the API, the CLI and batches
    config = guarded(debug, lambda: fix_config(source, values.pop("output"), progress=not quiet, **values))
    from vidrestore.io.regions import parse_boxes

    guarded(debug, lambda: parse_boxes(config.boxes))  # a bad spec fails at once, not per video
    if is_batch_input(source):
        ray = "local" if cli["ray"] and not cli["ray_address"] else cli["ray_address"]
        _fix_batch(config, str(source), config.workers, ray, cli["report"], cli["retries"], debug)
        return
    summary = guarded(debug, lambda: run_fix(config))
    if not quiet:
        for warning in summary.warnings:
            typer.echo(f"vidrestore: warning: {warning}", err=True)
        typer.echo(summary.line())


def _fix_signature() -> None:
    """Give `fix` the parameters typer reads: generated from the option table (fix_options)."""
    from vidrestore.fix_options import fix_parameters

    fix.__signature__ = inspect.Signature(fix_parameters())  # type: ignore[attr-defined]


_fix_signature()


def _fix_batch(
    config,
    inputs: str,
    workers: int | None,
    ray: str | None,
    report: Path | None,  # noqa: ANN001
    retries: int,
    debug: bool,
) -> None:
    """`fix` on a folder of videos, a glob or a manifest: one output per video under ``-o``."""
    from vidrestore.api import restore_options
    from vidrestore.batch import run_batch

    options = restore_options(config)
    options.pop("workers")  # in a batch, --workers counts videos at once, not segments of one
    result = guarded(
        debug,
        lambda: run_batch(
            inputs,
            config.output,
            workers=workers or 1,
            ray=ray,
            report=report,
            retries=retries,
            progress=config.progress,
            **options,
        ),
    )
    if config.progress:  # the runner has already said on stderr which inputs failed, and why
        typer.echo(result.line())
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _sensitivities(scratch: float, blotch: float, logo: float) -> dict[str, float]:
    return {"scratch": scratch, "blotch": blotch, "logo": logo}


@app.command(
    epilog="Examples:\n\n  vidrestore detect film.mp4 -o masks/ --preview check.mp4\n\n"
    "  vidrestore detect film.mp4 --report-only --kinds scratch,blotch\n\n"
    "  vidrestore fix film.mp4 --mask masks/ -o restored.mp4"
)
def detect(
    input: Path = typer.Argument(..., help="Video file or folder of frame images."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Folder for one mask PNG per frame (white = damaged)."
    ),
    kinds: str = typer.Option("scratch,blotch,logo", "--kinds", help="Comma list of scratch, blotch, logo."),
    preview: Path | None = typer.Option(
        None,
        "--preview",
        help="Also write a video with the detected damage tinted (scratch red, blotch green, logo blue).",
    ),
    report_only: bool = typer.Option(
        False, "--report-only", help="Only print how much damage was found per kind."
    ),
    scratch_sensitivity: float = typer.Option(
        1.0, "--scratch-sensitivity", help="Higher finds fainter scratches (and more false ones)."
    ),
    blotch_sensitivity: float = typer.Option(
        1.0, "--blotch-sensitivity", help="Higher finds fainter dust and blotches."
    ),
    logo_sensitivity: float = typer.Option(
        1.0, "--logo-sensitivity", help="Higher finds fainter static overlays."
    ),
    fps: float | None = typer.Option(
        None, "--fps", help="Frame rate of a frame-folder input (for --preview)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary line."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks."),
) -> None:
    """Find film scratches, dust/blotches and burned-in logos; write masks and a preview."""
    from vidrestore.detection import detect as run_detect

    if output is None and preview is None and not report_only:
        typer.echo("vidrestore: error: give -o MASK_FOLDER, --preview VIDEO or --report-only", err=True)
        raise typer.Exit(2)
    summary = guarded(
        debug,
        lambda: run_detect(
            input,
            None if report_only else output,
            kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()),
            preview=None if report_only else preview,
            sensitivity=_sensitivities(scratch_sensitivity, blotch_sensitivity, logo_sensitivity),
            overwrite=overwrite,
            fps=fps,
            progress=not quiet,
        ),
    )
    if not quiet or report_only:
        typer.echo(summary.line())


@app.command("track")
def track_command(
    input: Path = typer.Argument(..., help="Video file or folder of frame images."),
    key: str = typer.Option(
        ..., "--key", help="The object's mask on one frame: MASK_IMAGE@FRAME (frame index from 0)."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for one mask PNG per frame."),
    preview: Path | None = typer.Option(
        None, "--preview", help="Also write a video with the tracked mask tinted magenta."
    ),
    mask_threshold: int = typer.Option(128, "--mask-threshold", help="Grey level from which the key is set."),
    fps: float | None = typer.Option(None, "--fps", help="Frame rate of a frame-folder input."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no summary line."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks."),
) -> None:
    """Follow an object's mask from one keyframe through its shot; write masks and a preview.

    The masks (empty outside the shot) can be checked, corrected and given to `fix --mask`;
    `fix --track` does both steps in one go.
    """
    from vidrestore.track_job import track_to_folder

    summary = guarded(
        debug,
        lambda: track_to_folder(input, key, output, preview=preview, overwrite=overwrite, fps=fps,
                                threshold=mask_threshold, progress=not quiet),  # fmt: skip
    )
    if not quiet:
        typer.echo(summary.line())


@app.command("eval")
def evaluate_command(
    clean: Path = typer.Argument(..., help="A clean (undamaged) video or frame folder."),
    methods: str = typer.Option(
        "telea,ns",
        "--methods",
        help=(
            "Comma list of methods: gan, telea, ns; add +temporal (e.g. gan+temporal) for flow "
            "propagation first."
        ),
    ),
    kinds: str = typer.Option(
        "logo,blob,scratch,blotch", "--kinds", help="Comma list of synthetic damage kinds."
    ),
    frames: int = typer.Option(48, "--frames", help="Evaluate on the first N frames."),
    start: int = typer.Option(0, "--start", help="Skip the first N frames (e.g. to use a held-out tail)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic damage."),
    weights: str | None = typer.Option(None, "--weights", help="GAN weights (name or path)."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the results as JSON here."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks."),
) -> None:
    """Paint synthetic damage on a clean clip, repair it, and print hole PSNR, full PSNR, SSIM and flicker."""
    from vidrestore.evaluate import EvalOptions, evaluate, format_table

    options = EvalOptions(
        methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
        kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()),
        frames=frames,
        start=start,
        seed=seed,
        weights=weights,
    )
    rows = guarded(debug, lambda: evaluate(clean, options, json_out=json_out))
    typer.echo(format_table(rows))


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so temp outputs are removed before the process ends."""
    raise KeyboardInterrupt


def _run_train(values: dict) -> None:
    """`vidrestore train`: build a TrainConfig from a JSON config (optional) and the flags given."""
    debug = values.pop("debug")
    config_file = values.pop("config")
    from vidrestore.train.config import TrainConfig, load_train_config

    given = {
        k: (tuple(v) if isinstance(v, list) else v)
        for k, v in values.items()
        if v is not None and v != _TRAIN_DEFAULTS.get(k)
    }

    def go() -> Path:
        config = load_train_config(config_file, **given) if config_file else TrainConfig.from_dict(given)
        if not config.data:
            from vidrestore.errors import OptionError

            raise OptionError(
                "no training data: pass --data PATH (images, videos or frame folders), repeatable"
            )
        from vidrestore.train import train

        return train(config)

    exported = guarded(debug, go)
    typer.echo(f"exported generator: {exported}")


def _register_train() -> None:
    import inspect as _inspect

    from vidrestore.cli_options import command_from_dataclass
    from vidrestore.train.config import TrainConfig

    global _TRAIN_DEFAULTS
    _TRAIN_DEFAULTS = {f.name: f.default for f in __import__("dataclasses").fields(TrainConfig)}
    extra = [
        _inspect.Parameter(
            "config",
            _inspect.Parameter.KEYWORD_ONLY,
            annotation=Path | None,
            default=typer.Option(None, "--config", help="JSON file of training options; flags override it."),
        ),
        _inspect.Parameter(
            "debug",
            _inspect.Parameter.KEYWORD_ONLY,
            annotation=bool,
            default=typer.Option(False, "--debug", help="Show full tracebacks."),
        ),
    ]
    command = command_from_dataclass(TrainConfig, _run_train, extra)
    command.__doc__ = (
        "Train the inpainting generator and its discriminators; export safetensors + model card.\n\n"
        "Example: vidrestore train --data frames/ --data clips/ --model small --steps 20000 "
        "--run-dir runs/small\n\n"
        "Multi-GPU: torchrun --nproc_per_node=4 -m vidrestore train --data ... (same flags)."
    )
    app.command("train")(command)


_TRAIN_DEFAULTS: dict = {}
_register_train()


def main() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _terminate)
    app(prog_name="vidrestore")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
