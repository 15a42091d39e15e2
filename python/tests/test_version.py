"""One version: the header's FP8BLOCK_VERSION_* is the package's __version__ (the wheel's
metadata reads the header itself), and the library that runs reports it through
fp8block_version(). A library of another ABI is refused when loaded."""

import os
import re
import subprocess
import sys
from pathlib import Path

import fp8block
from fp8block import _library as L

HEADER = Path(__file__).resolve().parents[2] / "include" / "fp8block.h"


def header_version():
    text = HEADER.read_text()
    parts = [re.search(rf"^#define FP8BLOCK_VERSION_{part} (\d+)$", text, re.M) for part in ("MAJOR", "MINOR", "PATCH")]
    assert all(parts), f"{HEADER} lacks a FP8BLOCK_VERSION_MAJOR/MINOR/PATCH line"
    return ".".join(m.group(1) for m in parts)


def test_package_version_is_the_headers():
    assert fp8block.__version__ == header_version()


def test_library_version_is_the_headers():
    assert fp8block.library_version() == header_version()


def test_library_of_another_abi_is_refused():
    # The binding pretends to be the next minor release (a new ABI while the major is 0).
    major, minor, _ = L.VERSION
    code = ("import fp8block, fp8block._library as L\n"
            f"L.VERSION = ({major}, {minor + 1}, 0)\n"
            "L.library()\n")
    env = dict(os.environ, FP8BLOCK_LIBRARY=str(fp8block.library_path()),
               PYTHONPATH=str(Path(fp8block.__file__).parent.parent))
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode != 0
    assert "LibraryNotFoundError" in run.stderr and "ABI" in run.stderr, run.stderr
