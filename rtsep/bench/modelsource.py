"""Which model the benchmarks time: the shipped one, or a random-init export.

Timing does not need trained weights (the same architecture costs the same),
so when ``models/rtsep-default.onnx`` is missing a randomly initialised
:class:`rtsep.model.unet.CausalUNet` is exported to a temporary folder (needs
torch) and every result says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rtsep.errors import UserError

RANDOM_TRAINING_NOTE = "none (random initialisation, benchmark only)"


@dataclass(frozen=True)
class ModelChoice:
    """The model a benchmark runs.

    Attributes: ``path`` (ONNX or TorchScript export), ``trained`` (False for
    a random-init export), ``note`` (one line saying where it came from).
    """

    path: Path
    trained: bool
    note: str


def make_random_export(folder: Path, formats=("onnx", "torchscript"), seed: int = 0) -> Path:
    """Export a randomly initialised CausalUNet to ``folder`` as ``random.onnx``
    (and ``random.pt`` when ``"torchscript"`` is in ``formats``); returns the
    ``.onnx`` path. Needs torch. Each export is checked over 50 frames."""
    import torch

    from rtsep.config import StftGeometry
    from rtsep.model.checkpoint import save_checkpoint
    from rtsep.model.export import export_checkpoint
    from rtsep.model.unet import CausalUNet

    folder = Path(folder)
    torch.manual_seed(seed)
    ckpt = save_checkpoint(folder / "random.ckpt", CausalUNet(), geometry=StftGeometry(),
                           extra={"training_data": RANDOM_TRAINING_NOTE})
    quiet = {"log": lambda msg: None, "n_check_frames": 50}
    export_checkpoint(ckpt, folder / "random.onnx", "onnx", **quiet)
    if "torchscript" in formats:
        export_checkpoint(ckpt, folder / "random.pt", "torchscript", **quiet)
    return folder / "random.onnx"


def choose_model(model: str | Path | None, scratch_dir: Path, *, formats=("onnx", "torchscript"),
                 log=lambda msg: None) -> ModelChoice:
    """``model`` if given, else the shipped model, else a random-init export in ``scratch_dir``.

    Raises :class:`UserError` if ``model`` does not exist, or if a random
    export is needed and torch is missing.
    """
    from rtsep.engine import default_model_path

    if model is not None:
        path = Path(model)
        if not path.is_file():
            raise UserError(f"model {path} not found")
        return ModelChoice(path, True, f"{path}")
    shipped = default_model_path()
    if shipped.is_file():
        return ModelChoice(shipped, True, f"shipped model {shipped.name}")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UserError(f"{shipped} is missing and torch is not installed to export a "
                        "random-init model for timing; pass --model PATH") from None
    log(f"no shipped model ({shipped}); exporting a randomly initialised one for timing")
    path = make_random_export(Path(scratch_dir), formats)
    return ModelChoice(path, False, "random-init export (no shipped model; timing does not "
                                    "depend on the weights)")
