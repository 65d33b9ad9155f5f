"""Small C kernels for the CPU hot paths torch's own kernels serve badly, compiled on first use.

Each kernel is one C file beside the Python module that calls it; the vector maths they share is
`harness/vecmath.h` (`#include "vecmath.h"`). It is compiled once per machine with the system's C compiler
(`-O3 -march=native`) into a cache folder keyed by the source, the headers it includes, the flags and the
CPU, and loaded with ctypes. Without a compiler `kernel` returns None and the caller takes torch's path, which
computes the same thing (each kernel's tests say how exactly); so it does inside `torch_only()`, which
the tests and benchmarks/speed.py use to compare with that path.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ("-O3", "-march=native", "-shared", "-fPIC")
INCLUDE = Path(__file__).parent  # where the kernels' shared headers are
Signatures = tuple[tuple[str, tuple], ...]  # (function name, ctypes argument types) of a kernel's functions
_torch_only = False


@contextlib.contextmanager
def torch_only():
    """Within it, every kernel is off and torch's own path runs."""
    global _torch_only
    before, _torch_only = _torch_only, True
    try:
        yield
    finally:
        _torch_only = before


def kernel(source: Path, signatures: Signatures) -> ctypes.CDLL | None:
    """The compiled `source` with its functions' argument types set, or None (torch's path)."""
    return None if _torch_only else _loaded(source, signatures)


@functools.cache  # once per process and file
def _loaded(source: Path, signatures: Signatures) -> ctypes.CDLL | None:
    library = load(source)
    if library is not None:
        for name, argtypes in signatures:
            function = getattr(library, name)
            function.argtypes, function.restype = list(argtypes), None
    return library


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "dynobench"


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next((line for line in info if line.startswith("flags")), "")
    except OSError:
        return platform.processor()


@functools.cache  # once per process and file
def load(source: Path) -> ctypes.CDLL | None:
    """The compiled `source`, built on first use (atomically: concurrent workers may race), or None."""
    text = source.read_bytes()
    headers = b"".join(
        (INCLUDE / name.decode()).read_bytes() for name in re.findall(rb'#include "(.+?)"', text)
    )
    digest = hashlib.sha256(text + headers + " ".join(FLAGS).encode() + _cpu_flags().encode())
    target = _cache_dir() / f"{source.stem}-{platform.machine()}-{digest.hexdigest()[:16]}.so"
    if not target.exists():
        compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
        if compiler is None:
            return None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                built = Path(tmp) / target.name
                subprocess.run(
                    [compiler, *FLAGS, f"-I{INCLUDE}", str(source), "-o", str(built)],
                    check=True,
                    capture_output=True,
                )
                os.replace(built, target)
        except (OSError, subprocess.CalledProcessError):
            return None
    try:
        return ctypes.CDLL(str(target))
    except OSError:
        return None
