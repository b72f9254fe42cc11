"""The paper's benchmarks on synthetic scenes: ``camera`` (§4.2), ``recon`` (§4.3), ``memory`` (Tables 5 and 7).

Each runner writes ``results.json`` (settings, versions, seeds, per-unit and aggregate figures) in its
output folder, resuming finished units; :func:`write_report` adds ``report.md`` and plots.
"""

from .common import BenchStore, GeneratorSpec
from .memory import revisited_frames, run_memory
from .report import write_report
from .runners import run_camera, run_recon
from .suites import SUITES, Suite, get_suite

BENCHES = {"camera": run_camera, "recon": run_recon, "memory": run_memory}

__all__ = ["BENCHES", "BenchStore", "GeneratorSpec", "SUITES", "Suite", "get_suite", "revisited_frames", "run_camera",
           "run_memory", "run_recon", "write_report"]
