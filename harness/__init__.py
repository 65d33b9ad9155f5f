"""The run side of dynobench: suites, data protocol, training, profiling, run store, execution, CLI."""

from importlib import resources
from pathlib import Path

__version__ = "0.2.0"  # 0.2.0: one torch thread per run on CPU (bits differ from 0.1.0)


def shipped(*parts: str) -> Path:
    """A file or folder shipped inside the package: the bundled data (`data/`), suites and presets
    (`suites/`). In a checkout these are links to the repository's data/ and suites/; an installed wheel
    holds copies, so every command works from any directory."""
    return Path(str(resources.files(__name__).joinpath(*parts))).resolve()
