#!/usr/bin/env bash
# The Python package as a new user gets it: build the wheel from the repository root (what
# `pip install .` does: scikit-build-core driving the project's CMake), install it into a
# fresh virtual environment, and run the README's Python block exactly as README.md has it
# (read from there, not copied), from a directory outside the repository, with no
# FP8BLOCK_LIBRARY or PYTHONPATH: the library must come from the wheel. Then the versions:
# the wheel's, fp8block.__version__ and the loaded library's are the header's.
#
# Needs PyPI (scikit-build-core for the build, numpy for the install): exits 77 (skipped),
# saying so, when it cannot be reached or no virtual environment can be made.
# The library is built as `pip install .` builds it: with the CUDA backend when nvcc is
# there (about a minute more on 2 cores); FP8BLOCK_WHEEL_CPU_ONLY=1 builds the CPU backend
# alone, which tests the same packaging faster.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }

"$python" -m venv "$work/venv" >"$work/venv.log" 2>&1 ||
    { cat "$work/venv.log"; skip "$python -m venv failed (Debian: the python3-venv package)"; }
venv=$work/venv
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" download --quiet --retries 1 --timeout 30 --no-deps -d "$work/probe" "scikit-build-core>=0.11" \
    >"$work/probe.log" 2>&1 || { tail -5 "$work/probe.log"; skip "cannot download scikit-build-core from PyPI"; }

config=()
if [ "${FP8BLOCK_WHEEL_CPU_ONLY:-0}" = 1 ]; then
    echo "FP8BLOCK_WHEEL_CPU_ONLY=1: building the wheel's library without the CUDA backend"
    config=(-C cmake.define.FP8BLOCK_ENABLE_CUDA=OFF)
fi
echo "--- pip wheel $repo"
CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "${pip[@]}" wheel --verbose --no-deps -w "$work/dist" "${config[@]}" "$repo" \
    >"$work/wheel.log" 2>&1 || { tail -60 "$work/wheel.log"; fail "building the wheel"; }
backend=$(grep -o 'fp8block: CUDA backend O[NF]F*.*' "$work/wheel.log") || fail "the build did not say which backend it built"
echo "$backend"
wheels=("$work"/dist/fp8block-*.whl)
[ "${#wheels[@]}" = 1 ] && [ -f "${wheels[0]}" ] || fail "expected one fp8block wheel in $work/dist"
wheel=$(basename "${wheels[0]}")
echo "$wheel"
version=$(sed -n 's/^#define FP8BLOCK_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$repo/include/fp8block.h" | paste -sd.)
case $wheel in
    "fp8block-$version-py3-none-any.whl") fail "$wheel is a pure-Python wheel: it cannot carry the library" ;;
    "fp8block-$version-py3-none-"*.whl) ;;
    *) fail "$wheel: expected fp8block-$version-py3-none-<platform>.whl" ;;
esac
contents=$("$venv/bin/python" -m zipfile -l "${wheels[0]}")
for file in fp8block/libfp8block.so fp8block/py.typed fp8block/__init__.py; do
    grep -q "^$file " <<<"$contents" || fail "$wheel lacks $file"
done

echo "--- pip install $wheel into a fresh venv"
"${pip[@]}" install --quiet --retries 1 --timeout 60 "${wheels[0]}" >"$work/install.log" 2>&1 ||
    { tail -5 "$work/install.log"; grep -qi "numpy" "$work/install.log" && skip "cannot install numpy from PyPI"; fail "pip install $wheel"; }

# The first ```python block of the README's "## Python" section, as written.
awk '/^## Python$/ {section = 1; next}
     section && /^## / {exit}
     section && !block && /^```python$/ {block = 1; next}
     block && /^```$/ {exit}
     block {print}' "$repo/README.md" >"$work/quickstart.py"
grep -q "fp8block" "$work/quickstart.py" || fail "no Python block in README.md's '## Python' section"
mkdir "$work/elsewhere"
clean_env=(env -u FP8BLOCK_LIBRARY -u PYTHONPATH)
echo "--- README.md's Python quickstart ($(wc -l <"$work/quickstart.py") lines)"
(cd "$work/elsewhere" && "${clean_env[@]}" "$venv/bin/python" "$work/quickstart.py") || fail "the README's Python quickstart"

(cd "$work/elsewhere" && "${clean_env[@]}" "$venv/bin/python" - "$version" "$venv") <<'PY' || fail "versions or library path"
import importlib.metadata, pathlib, sys
import fp8block
version, venv = sys.argv[1], pathlib.Path(sys.argv[2]).resolve()
lib = pathlib.Path(fp8block.library_path()).resolve()
assert lib == pathlib.Path(fp8block.__file__).resolve().parent / "libfp8block.so", f"loaded {lib}, not the wheel's"
assert venv in lib.parents, f"{lib} is outside the venv {venv}"
found = {"header": version, "wheel metadata": importlib.metadata.version("fp8block"),
         "fp8block.__version__": fp8block.__version__, "fp8block.library_version()": fp8block.library_version()}
assert len(set(found.values())) == 1, found
print(f"fp8block {version} from {lib}")
PY
echo "wheel: 3 passed, 0 failed"
