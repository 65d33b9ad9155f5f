"""The run side of dynobench: suites, data protocol, training, profiling, run store, execution, CLI."""

from pathlib import Path

__version__ = "0.2.0"  # 0.2.0: one torch thread per run on CPU (bits differ from 0.1.0)

# The repository root: bundled data, suites and presets live beside the packages (editable install).
ROOT = Path(__file__).resolve().parent.parent
