"""harness.native: kernels are rebuilt when their source or a header they include changes."""

import ctypes
import shutil

import pytest

from harness import native

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler"
)


def test_a_changed_header_builds_a_new_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(native, "INCLUDE", tmp_path)
    source = tmp_path / "answer.c"
    source.write_text('#include "value.h"\nint answer(void) { return VALUE; }\n')
    answers = []
    for value in (41, 42):
        (tmp_path / "value.h").write_text(f"#define VALUE {value}\n")
        native.load.cache_clear()
        library = native.load(source)
        library.answer.restype = ctypes.c_int
        answers.append(library.answer())
    assert answers == [41, 42]
    assert len(list((tmp_path / "cache" / "dynobench").glob("answer-*.so"))) == 2
