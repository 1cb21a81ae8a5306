"""Training of the inpainting GAN: ``train(TrainConfig(...))`` is what `vidrestore train` calls.

Data readers (``data``, ``sources``), losses, the loop and checkpoints live in the submodules;
inference never imports this package. The loop (and torch) is imported only when training starts,
so that the CLI can read ``TrainConfig`` to build its flags without paying for torch.
"""

from __future__ import annotations

from pathlib import Path

from vidrestore.train.config import TrainConfig, load_train_config


def train(config: TrainConfig) -> Path:
    """Run one training job (see ``vidrestore.train.loop.train``); returns the exported weights path."""
    from vidrestore.train.loop import train as run_training

    return run_training(config)


__all__ = ["TrainConfig", "load_train_config", "train"]
