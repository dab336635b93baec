"""What a reduced precision costs in quality, measured rather than assumed: FCD of the variant's
images next to fp32's on the same z (the difference and its sign), their mean PSNR against fp32's,
and for D the share of real/fake decisions that flip. A variant whose FCD rises by more than the
user allows fails the gate with that number.

Element-wise error does not predict the cost: an int8 MLP generator moves pixels by 0.13 and keeps
its FCD, while an int8 DCGAN can lose 15%. Only measuring says which.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio

from gan.data import default_data_dir, load_dataset
from gan.data.images import normalize
from gan.errors import EnvironmentMissing, GanError
from gan.export.backends import ModelSource, NotApplicable, Unavailable, backend_spec, build_backends
from gan.export.image_parity import DATA_RANGE
from gan.export.manifest import MANIFEST, manifest_signature, read_manifest
from gan.export.precision import FP32, PRECISIONS
from gan.export.sample import check_fresh
from gan.files.atomic import write_text
from gan.quality.evaluation import eval_json, evaluate_run
from gan.quality.metrics import random_subset
from gan.runs.checkpoint import CHECKPOINT_JSON

# The FCD rise a variant may cost before its gate fails, in percent of fp32's FCD.
DEFAULT_MAX_FCD_INCREASE_PCT = 1.0
# Images compared pixel by pixel and judged by both D's: enough for a stable share, cheap to run.
PAIRED = 2000
# Images per variant when `gan export --precision` measures the cost itself: a first answer in
# seconds; `gan eval --precision` measures 10,000.
EXPORT_COST_N = 1000


def check_max_fcd_increase(value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise GanError(f"--max-fcd-increase must be a finite percentage >= 0, got {value}")


def precision_cost(
    run_dir: Path,
    precision: str,
    *,
    backend: str = "onnxruntime",
    n: int = 10_000,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    data_dir: Path | None = None,
    max_fcd_increase_pct: float = DEFAULT_MAX_FCD_INCREASE_PCT,
    log: Callable[[str], None] = lambda _: None,
) -> dict:
    """The quality cost of the run's `precision` variant on `backend` against fp32 on the same
    backend; saved to eval-PRECISION.json (with the variant's own FCD record) and returned."""
    check_max_fcd_increase(max_fcd_increase_pct)
    if precision not in PRECISIONS or precision == FP32:
        choices = ", ".join(p for p in PRECISIONS if p != FP32)
        raise GanError(f"--precision must name a reduced precision ({choices}), got {precision!r}")
    run_dir = Path(run_dir)
    export_dir = run_dir / "export"
    if not (run_dir / CHECKPOINT_JSON).exists() or not (export_dir / MANIFEST).exists():
        raise GanError(f"{run_dir} needs a checkpoint and an export: run gan export {run_dir} first")
    manifest = read_manifest(export_dir)
    check_fresh(run_dir, manifest)
    source = ModelSource(export_dir, manifest, trust_code=False)
    spec = backend_spec(backend)
    if (problem := spec.problem(device)) is not None:  # a library or provider missing here
        raise EnvironmentMissing(f"cannot run {backend} on {device}: {problem}")
    try:
        fp32 = build_backends(spec, source, device)
        reduced = build_backends(spec, source, device, precision)
    except (Unavailable, NotApplicable) as error:
        raise GanError(f"cannot measure {precision} on {backend}: {error}") from None
    common = dict(n=n, seed=seed, device=device, data_dir=data_dir, log=log)
    measured = evaluate_run(
        run_dir,
        reduced["generator"],
        backend=backend,
        precision=precision,
        baseline=fp32["generator"],
        save=False,
        **common,
    )
    fcd, fcd_fp32 = measured["generated"]["fcd"], measured["baseline"]["fcd"]
    increase_pct = 100 * (fcd - fcd_fp32) / fcd_fp32
    signature = source.signature
    args = signature.draw("generator", min(n, PAIRED), seed)
    with torch.no_grad():
        images32 = fp32["generator"](*args).float().cpu()
        images = reduced["generator"](*args).float().cpu()
    psnr = peak_signal_noise_ratio(images, images32, data_range=DATA_RANGE, reduction="none", dim=(1, 2, 3))
    measured["cost"] = {
        "against": f"fp32 on {backend}, the same {n} z (seed {seed})",
        "checkpoint_sha256": manifest["source"].get("checkpoint_sha256"),
        "fcd_fp32": fcd_fp32,
        "fcd": fcd,
        "fcd_increase": fcd - fcd_fp32,
        "fcd_increase_pct": increase_pct,
        # Identical images have an infinite PSNR; they count as 100 dB in the mean.
        "mean_psnr_db_vs_fp32": float(psnr.nan_to_num(posinf=100.0).clamp(max=100.0).mean()),
        "paired_images": len(images),
        "discriminator_flips": _flips(fp32, reduced, manifest, args, images32, data_dir, seed),
        "max_fcd_increase_pct": max_fcd_increase_pct,
        "passed": increase_pct <= max_fcd_increase_pct,
    }
    write_text(run_dir / eval_json(precision), json.dumps(measured, indent=2))
    return measured


@torch.no_grad()
def _flips(fp32: dict, reduced: dict, manifest: dict, args, fakes, data_dir, seed) -> dict | None:
    """The share of D's real/fake decisions that the variant flips, on real test images and on
    fp32 G's images; None when the export has no D."""
    if "discriminator" not in fp32:
        return None
    threshold = 0.5 if manifest["discriminator_output"] == "probability" else 0.0
    signature = manifest_signature(manifest)
    data = load_dataset(manifest["dataset"], data_dir or default_data_dir(), sources=("cache",))
    real = normalize(random_subset(data.test_images, len(fakes), seed))

    def flipped(images: torch.Tensor) -> float:
        d_args = signature.discriminator_args(tuple(x[: len(images)] for x in args), images)
        before = fp32["discriminator"](*d_args) > threshold
        after = reduced["discriminator"](*d_args) > threshold
        return float((before != after).float().mean())

    return {"real": flipped(real), "generated": flipped(fakes)}


def costs_at_export(
    run_dir: Path,
    export_dir: Path,
    manifest: dict,
    max_fcd_increase_pct: float = DEFAULT_MAX_FCD_INCREASE_PCT,
    n: int = EXPORT_COST_N,
    log: Callable[[str], None] = lambda _: None,
) -> tuple[dict[str, dict], list[str]]:
    """The quality cost of each G variant an export just built, when its run has a dataset the
    pinned classifier judges: ({precision: eval record}, lines saying why a cost was not measured)."""
    variants = ModelSource(export_dir, manifest).variants()
    if not variants:
        return {}, []
    if Path(export_dir).resolve() != (Path(run_dir) / "export").resolve():
        return {}, [
            f"quality cost not measured: the export is not {Path(run_dir) / 'export'}; "
            "export there and run gan eval RUN --precision P"
        ]
    measured, notes = {}, []
    for precision in variants:
        try:
            measured[precision] = precision_cost(
                run_dir, precision, n=n, max_fcd_increase_pct=max_fcd_increase_pct, log=log
            )
        except GanError as error:  # no dataset, no classifier for these images: said, not fatal
            notes.append(f"quality cost of {precision} not measured: {error}")
    return measured, notes
