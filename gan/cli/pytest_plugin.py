"""The pytest plugin: an export dir's parity as pytest tests, in a user's own CI.

    pytest --gan-verify export/            # one test per comparison and image check
    pytest --gan-verify a/ --gan-verify b/ -k onnxruntime --junitxml parity.xml

Installing the toolkit registers it (entry point `pytest11`), so `-k`, `-x`, `--junitxml` and
every CI that runs pytest work on parity with nothing else to set up. The `gan_verify` fixture
gives the same check to tests that want their own assertions:

    def test_onnx_is_close(gan_verify):
        report = gan_verify("export", atol={"image": 1e-4})
        assert report.passed, report.failure_message(report.comparisons[0])

This is a front end like the command line: it parses and calls gan.export.verify. The toolkit
is imported only when a test needs it, so pytest starts as fast as before for everyone else.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("gan-verify", "parity of GAN export dirs (gan-toolkit)")
    group.addoption(
        "--gan-verify",
        action="append",
        default=[],
        metavar="EXPORT_DIR",
        help="Check this export dir's parity, one test per comparison; repeatable.",
    )
    group.addoption(
        "--gan-verify-device",
        default="cpu",
        help="cpu, or cuda to also check the GPU backends (default: cpu).",
    )
    group.addoption(
        "--gan-verify-run",
        default=None,
        metavar="RUN_DIR",
        help="The run dir the exports were made from, for naming the first diverging layer.",
    )


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect, so they select among these too
def pytest_collection_modifyitems(session, config, items):
    for export_dir in config.getoption("gan_verify"):
        items.extend(_items(session, Path(export_dir)))


@pytest.fixture
def gan_verify():
    """verify(export_dir, **options) -> VerifyReport: options are VerifyOptions' fields (device
    may be "cpu" or "cuda")."""
    from gan.device import resolve_device
    from gan.export.verify import VerifyOptions, verify_export

    def verify(export_dir, **options):
        if isinstance(options.get("device"), str):
            options["device"] = resolve_device(options["device"])
        return verify_export(export_dir, VerifyOptions(**options))

    return verify


class ParityMismatch(AssertionError):
    """A comparison of an export dir failed; the message says by how much and where."""


class ExportDir(pytest.Collector):
    """The export dir an item belongs to, so test ids read EXPORT_DIR::generator[...]."""

    def collect(self):
        return []  # its items are made by pytest_collection_modifyitems, from the manifest


class ParityItem(pytest.Item):
    """One comparison (model x backend x device x batch) or one image check of an export dir."""

    def __init__(self, *, export_dir: Path, key: tuple, **kwargs):
        super().__init__(**kwargs)
        self.export_dir, self.key = export_dir, key

    def runtest(self):
        report = _report(self.config, self.export_dir)
        if self.key[0] == "image":
            result = next(r for r in report.image_checks if (r["backend"], r["device"]) == self.key[1:])
            if not result["passed"]:
                raise ParityMismatch(report.image_failure_message(result))
            return
        c = next(c for c in report.comparisons if (c.model, c.backend, c.device, c.batch) == self.key)
        if not c.passed:
            raise ParityMismatch(report.failure_message(c))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, ParityMismatch):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.export_dir, None, self.name


def _items(session, export_dir: Path) -> list[ParityItem]:
    from gan.errors import GanError
    from gan.export.verify import planned_checks

    try:
        checks = planned_checks(export_dir, _options(session.config))
    except GanError as error:
        raise pytest.UsageError(f"--gan-verify {export_dir}: {error}") from None
    parent = ExportDir.from_parent(session, name=str(export_dir), nodeid=str(export_dir))
    items = []
    for key in checks:
        if key[0] == "image":
            name = f"image[{key[1]}-{key[2]}]"
        else:
            model, backend, device, batch = key
            name = f"{model}[{backend}-{device}-batch{batch}]"
        items.append(ParityItem.from_parent(parent, name=name, export_dir=export_dir, key=key))
    return items


def _options(config):
    from gan.device import resolve_device
    from gan.export.verify import VerifyOptions

    run = config.getoption("gan_verify_run")
    return VerifyOptions(
        device=resolve_device(config.getoption("gan_verify_device")),
        run_dir=Path(run) if run else None,
    )


def _report(config, export_dir: Path):
    """The export dir's VerifyReport, computed once for all of its items."""
    from gan.errors import GanError
    from gan.export.verify import verify_export

    reports = config.stash.setdefault(_REPORTS, {})
    if export_dir not in reports:
        try:
            reports[export_dir] = verify_export(export_dir, _options(config))
        except GanError as error:  # a missing GPU, a broken file: every item fails with the one line
            reports[export_dir] = ParityMismatch(f"gan verify {export_dir}: {error}")
    if isinstance(reports[export_dir], ParityMismatch):
        raise reports[export_dir]
    return reports[export_dir]


_REPORTS = pytest.StashKey[dict]()
