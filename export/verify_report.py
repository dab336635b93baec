"""What `gan verify` found, as a report that saves itself: a versioned JSON with the environment,
and a JUnit XML file that any CI reads natively (one testcase per comparison and image check)."""

from __future__ import annotations

import json
import math
import platform
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from gan.device import cpu_model
from gan.export.localize import Localization
from gan.export.parity import Comparison, Rule
from gan.files.atomic import write_text

REPORT_FORMAT = "gan-verify-report"
# 1: comparisons, image checks, localizations, the rule and the environment.
REPORT_VERSION = 1


@dataclass
class VerifyReport:
    export_dir: Path
    manifest: dict
    comparisons: list[Comparison]
    image_checks: list[dict]
    localizations: list[Localization]
    rule: Rule
    options: object  # the VerifyOptions it ran with
    localization_note: str = ""  # why no layer could be compared, when one failed
    seconds: float = 0.0
    environment: dict = field(default_factory=dict)

    def __post_init__(self):
        self.environment = self.environment or environment(self.manifest, self.options.device)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons) and all(r["passed"] for r in self.image_checks)

    def localization(self, model: str, backend: str, device: str) -> Localization | None:
        """Where `model` on `backend` first diverges; for the chain, the first of G's and D's."""
        parts = ("generator", "discriminator") if model.split("@")[0] == "chain" else (model.split("@")[0],)
        for found in self.localizations:
            if found.model in parts and found.backend == backend and found.device == device:
                if found.first is not None or found.note:
                    return found
        return None

    def to_dict(self) -> dict:
        return _finite(
            {
                "format": REPORT_FORMAT,
                "version": REPORT_VERSION,
                "export_dir": str(self.export_dir),
                "passed": self.passed,
                "seconds": self.seconds,
                "rule": {
                    "tolerances": {k: asdict(v) for k, v in self.rule.by_device.items()},
                    "atol_overrides": dict(self.rule.atol),
                    "rtol_overrides": dict(self.rule.rtol),
                    "error_stat": self.rule.error_stat,
                    "error_quantile": self.rule.error_quantile,
                    "min_psnr": self.options.min_psnr,
                    "min_ssim": self.options.min_ssim,
                },
                "environment": self.environment,
                "comparisons": [c.to_dict() for c in self.comparisons],
                "image_checks": self.image_checks,
                "localizations": [found.to_dict() for found in self.localizations],
                "localization_note": self.localization_note,
            }
        )

    def save_json(self, path: Path) -> None:
        write_text(path, json.dumps(self.to_dict(), indent=2, allow_nan=False))

    def save_junit(self, path: Path) -> None:
        write_text(path, ET.tostring(self.junit(), encoding="unicode", xml_declaration=True))

    def junit(self) -> ET.Element:
        """<testsuites> with one <testsuite> per export dir: a <testcase> per comparison (model x
        backend x device x batch) and per image check, errors as <property>s."""
        suite = ET.Element("testsuite", name=f"gan verify {self.export_dir}", time=f"{self.seconds:.3f}")
        properties = ET.SubElement(suite, "properties")
        for key, value in self.environment.items():
            ET.SubElement(properties, "property", name=key, value=str(value))
        failures = 0
        for c in self.comparisons:
            failures += not c.passed
            case = _testcase(suite, f"gan.verify.{c.model}", f"{c.backend}[{c.device}] batch {c.batch}")
            _properties(
                case,
                c.to_dict(),
                (
                    "max_abs",
                    "median_abs",
                    "max_rel",
                    "median_rel",
                    "min_passing_atol",
                    "atol",
                    "rtol",
                    "check",
                    "output",
                ),
            )
            if not c.passed:
                ET.SubElement(case, "failure", message=self.failure_message(c)).text = self.failure_message(c)
        for r in self.image_checks:
            failures += not r["passed"]
            case = _testcase(suite, "gan.verify.images", f"{r['backend']}[{r['device']}] fixed-noise grid")
            _properties(case, r, ("max_pixel_diff", "psnr_db", "ssim"))
            if not r["passed"]:
                ET.SubElement(case, "failure", message=self.image_failure_message(r))
        suite.set("tests", str(len(self.comparisons) + len(self.image_checks)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        root = ET.Element("testsuites", tests=suite.get("tests"), failures=str(failures))
        root.append(suite)
        return root

    def failure_message(self, c: Comparison) -> str:
        """One line: by how much `c` failed, and the first diverging layer when it is known."""
        detail = c.error or (
            f"max abs {c.max_abs:.2e} (atol {c.atol:.0e}, rtol {c.rtol:.0e}, {c.check}); "
            f"needs atol >= {c.min_passing_atol:.2e}"
        )
        return self._where(
            f"{c.model} on {c.backend} ({c.device}), batch {c.batch}: {detail}", c.model, c.backend, c.device
        )

    def image_failure_message(self, result: dict) -> str:
        """One line: how G's fixed-noise grid on a backend missed, and where G first diverges."""
        reasons = [f"max pixel diff {result['max_pixel_diff']} grey levels"]
        if self.options.min_psnr is not None and result.get("psnr_db") is not None:
            reasons.append(f"PSNR {result['psnr_db']:.1f} dB (needs >= {self.options.min_psnr})")
        if self.options.min_ssim is not None and result.get("ssim") is not None:
            reasons.append(f"SSIM {result['ssim']:.4f} (needs >= {self.options.min_ssim})")
        line = f"fixed-noise grid on {result['backend']} ({result['device']}): " + ", ".join(reasons)
        return self._where(line, "generator", result["backend"], result["device"])

    def _where(self, line: str, model: str, backend: str, device: str) -> str:
        found = self.localization(model, backend, device)
        if found is not None:
            return f"{line}. {found.summary()}"
        return f"{line}. {self.localization_note}" if self.localization_note else line


def environment(manifest: dict, device: torch.device) -> dict:
    """Where the check ran and what made the files: the versions, the CPU or GPU by name, TF32."""
    import onnx
    import onnxruntime

    cuda = device.type == "cuda"
    return {
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32 if cuda else None,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32 if cuda else None,
        "exporter": manifest.get("exporter"),
        "opset": manifest.get("opset"),
        "exported_with": manifest.get("versions", {}),
    }


def _testcase(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")


def _properties(case: ET.Element, values: dict, keys: tuple[str, ...]) -> None:
    properties = ET.SubElement(case, "properties")
    for key in keys:
        if values.get(key) is not None:
            ET.SubElement(properties, "property", name=key, value=str(values[key]))


def _finite(value):
    """NaN and infinity become null: strict JSON readers (jq, most CI tools) refuse them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
