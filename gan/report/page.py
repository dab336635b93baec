"""`gan report`: one self-contained page about a run that a person understands in a minute.

It reads only what the other commands wrote into the run dir (config.json, the pictures,
eval.json, export/manifest.json, bench.json), so it depends on no command's code. report.html
embeds every picture; report.md is its twin for code review, linking the same pictures by
relative path.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

from gan.errors import GanError
from gan.files.atomic import write_text
from gan.files.listing import check_listed_files, check_listing
from gan.files.ownership import EXPORT_FORMAT
from gan.quality.table import label_accuracy_line, quality_markdown
from gan.report.html import page
from gan.report.tables import bench_markdown, parity_markdown, settings_markdown, trade_off_markdown
from gan.runs.checkpoint import CHECKPOINT_JSON

Section = tuple[str, str]  # (heading, Markdown)


def write_report(run_dir: Path) -> tuple[Path, Path]:
    run_dir = Path(run_dir)
    if not (run_dir / CHECKPOINT_JSON).exists():
        raise GanError(f"{run_dir} has no checkpoint ({CHECKPOINT_JSON}); is it a run dir of gan train?")
    config = _json(run_dir / "config.json", "re-run gan train or gan import")
    try:
        manifest = _manifest(run_dir / "export")
        bench = (
            _json(run_dir / "bench.json", "re-run gan bench") if (run_dir / "bench.json").exists() else None
        )
        sections = [
            ("Configuration", settings_markdown(config)),
            _samples(run_dir),
            *_losses(run_dir),
            _quality(run_dir),
            *_precisions(run_dir, bench),
            _parity(run_dir, manifest),
            *_bench(run_dir, bench),
            ("Environment", settings_markdown(_environment(config, manifest, bench))),
        ]
        # A run of an older toolkit records no loss: it trained with BCE.
        loss = config.get("loss") or "bce"
        critic = f", {config['n_critic']} D steps per G step" if (config.get("n_critic") or 1) > 1 else ""
        trained = (
            "imported weights" if "imported" in config else f"on {config['dataset']} with {loss}{critic}"
        )
        title = f"GAN report: {config['arch']} {trained}, {run_dir.name}"
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise GanError(
            f"a file in {run_dir} that the report reads is malformed ({type(error).__name__}: {error}); "
            "re-run the command that wrote it"
        ) from None
    markdown = "\n\n".join(f"## {heading}\n\n{body}" for heading, body in sections)
    write_text(run_dir / "report.md", f"# {title}\n\n{markdown}\n")
    write_text(run_dir / "report.html", page(title, sections, run_dir))
    return run_dir / "report.html", run_dir / "report.md"


def _json(path: Path, what: str) -> dict:
    """A JSON file the report reads, or one line saying which one is unreadable."""
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        raise GanError(f"{path} is missing; {what}") from None
    except (OSError, ValueError) as error:
        raise GanError(f"{path} is unreadable ({type(error).__name__}); {what}") from None
    if not isinstance(value, dict):
        raise GanError(f"{path} is not a JSON object; {what}")
    return value


def _manifest(export_dir: Path) -> dict | None:
    """The export's manifest, its files hash-checked like every other reader does; None if none."""
    if not (export_dir / "manifest.json").exists():
        return None
    manifest = _json(export_dir / "manifest.json", "re-run gan export")
    if manifest.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{export_dir / 'manifest.json'} is not a gan export manifest")
    check_listing(manifest["files"])
    check_listed_files(export_dir, manifest["files"], "manifest.json")
    return manifest


def _samples(run_dir: Path) -> Section:
    pictures = [("real images", "real_samples.png")] if (run_dir / "real_samples.png").exists() else []
    frames = sorted((run_dir / "samples").glob("epoch_*.png"))
    if frames:
        caption = f"fixed noise after {frames[-1].stem.replace('_', ' ')}"
        pictures.append((caption, f"samples/{frames[-1].name}"))
    if (run_dir / "progress.gif").exists():
        pictures.append(("fixed noise, epoch by epoch", "progress.gif"))
    return "Samples", " ".join(f"![{caption}]({path})" for caption, path in pictures)


def _losses(run_dir: Path) -> list[Section]:
    if not (run_dir / "losses.png").exists():
        return []
    return [("Losses", "![per step and smoothed](losses.png)")]


def _quality(run_dir: Path) -> Section:
    if not (run_dir / "eval.json").exists():
        return "Quality", f"not measured yet: `gan eval {run_dir}`"
    result = _json(run_dir / "eval.json", "re-run gan eval")
    classifier = result["classifier"]
    accuracy = classifier["test_accuracy"]
    measured = f"{accuracy:.1%} test accuracy" if accuracy is not None else "its accuracy not measured here"
    per_class = label_accuracy_line(result)
    return "Quality", quality_markdown([result]) + (
        f"\n\nFCD is the Fréchet distance in the penultimate features of the feature classifier "
        f"{classifier.get('version', 'trained here')} ({measured}); it compares only with figures "
        f"of the same classifier, and is not comparable to published Inception-FID. The floor is "
        f"real train vs real test images at the same n (two halves of your own images). "
        f"Predicted class shares: {result['generated']['class_histogram']}."
        + (f"\n\nThe conditional G's {per_class[0].lower()}{per_class[1:]}." if per_class else "")
    )


# Reduced precisions whose quality cost `gan eval --precision` may have measured.
REDUCED = ("int8-dynamic", "int8-static", "fp16", "bf16")


def _precisions(run_dir: Path, bench: dict | None) -> list[Section]:
    """The speed-vs-quality trade-off: each measured precision's FCD cost next to its best
    forward-G speed-up over the best fp32 runtime in bench.json."""
    costs = {
        p: _json(run_dir / f"eval-{p}.json", "re-run gan eval --precision")
        for p in REDUCED
        if (run_dir / f"eval-{p}.json").exists()
    }
    if not costs:
        return []
    return [("Precision trade-off", trade_off_markdown(costs, bench["results"] if bench else []))]


def _parity(run_dir: Path, manifest: dict | None) -> Section:
    if manifest is None:
        return "Export parity", f"not exported yet: `gan export {run_dir}`"
    return "Export parity", (
        f"Exporter {manifest['exporter']}, opset {manifest['opset']}; rule: fail only if |a-b| > atol "
        f"and rel > rtol (CPU atol 1e-5, rtol 1e-4).\n\n{parity_markdown(manifest.get('parity', []))}\n\n"
        "![fixed-noise grid through every backend](export/parity_grid.png)"
    )


def _bench(run_dir: Path, bench: dict | None) -> list[Section]:
    if bench is None:
        return []
    chart = "\n\n![throughput by backend](bench.png)" if (run_dir / "bench.png").exists() else ""
    return [("Benchmark", bench_markdown(bench["results"]) + chart)]


def _environment(config: dict, manifest: dict | None, bench: dict | None) -> dict:
    environment = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": config.get("torch"),
        "training device": config.get("device"),
    }
    if manifest is not None:
        environment |= {f"export {k}": v for k, v in manifest.get("versions", {}).items()}
    if bench is not None:
        environment |= {
            "bench device": bench["environment"]["device_name"],
            "matmul peak GFLOP/s": f"{bench['environment']['matmul_peak'].get('gflops') or 0:.0f}",
        }
    return environment
