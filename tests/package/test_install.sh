#!/usr/bin/env bash
# Installs the build to a temporary prefix, moves the tree (an installed fp8block must not
# depend on where it was installed), then builds and runs the README's C quickstart and a
# version check as another project would: through find_package(fp8block) against the shared
# and the static library, and through pkg-config (shared, and --static for libfp8block.a).
# usage: test_install.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$work/staged" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
mv "$work/staged" "$work/prefix"
prefix=$work/prefix
pc=$(find "$prefix" -name fp8block.pc)
config=$(find "$prefix" -name fp8blockConfig.cmake)
[ -f "$prefix/include/fp8block.h" ] || fail "no include/fp8block.h under the prefix"
[ -n "$pc" ] || fail "no fp8block.pc under the prefix"
[ -n "$config" ] || fail "no fp8blockConfig.cmake under the prefix"
libdir=$(dirname "$(dirname "$pc")")
for lib in libfp8block.so libfp8block.a; do [ -e "$libdir/$lib" ] || fail "no $libdir/$lib"; done
if grep -rq "$build\|$repo" "$prefix/include" "$(dirname "$config")" "$pc"; then fail "the installed files name the build tree"; fi

version=$(sed -n 's/^#define FP8BLOCK_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "$repo/include/fp8block.h" | paste -sd.)
soname=$(readelf -d "$libdir/libfp8block.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ -n "$soname" ] && [ -e "$libdir/$soname" ] || fail "SONAME '$soname' is not installed in $libdir"
echo "installed fp8block $version (SONAME $soname)"

echo "--- find_package(fp8block)"
cmake -S "$repo/tests/package/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
    -DFP8BLOCK_EXPECTED_VERSION="$version" -DFP8BLOCK_QUICKSTART="$repo/examples/quickstart.c" \
    >"$work/consumer.log" 2>&1 || { tail -40 "$work/consumer.log"; fail "configuring the find_package consumer"; }
cmake --build "$work/consumer" >>"$work/consumer.log" 2>&1 || { tail -40 "$work/consumer.log"; fail "building it"; }
for exe in quickstart_shared quickstart_static version_check; do
    "$work/consumer/$exe" || fail "find_package consumer $exe"
done
# ldd's output is taken whole first: grep -q stopping early would break ldd's pipe.
grep -q "$soname => $libdir" <<<"$(ldd "$work/consumer/quickstart_shared")" ||
    fail "quickstart_shared does not load $libdir/$soname"
if grep -q libfp8block <<<"$(ldd "$work/consumer/quickstart_static")"; then fail "quickstart_static loads the shared library"; fi

echo "--- pkg-config fp8block"
export PKG_CONFIG_PATH=$(dirname "$pc")
[ "$(pkg-config --modversion fp8block)" = "$version" ] || fail "pkg-config --modversion says $(pkg-config --modversion fp8block)"
cc=${CC:-cc}
# shellcheck disable=SC2046 # pkg-config's words are meant to split
$cc -std=c11 -Wall -Wextra -Werror -pedantic $(pkg-config --cflags fp8block) "$repo/examples/quickstart.c" \
    $(pkg-config --libs fp8block) -Wl,-rpath,"$libdir" -o "$work/pc_shared" || fail "pkg-config shared link"
# shellcheck disable=SC2046
$cc -std=c11 $(pkg-config --cflags fp8block) -DFP8BLOCK_EXPECTED_VERSION="\"$version\"" "$repo/tests/package/version_check.c" \
    $(pkg-config --libs fp8block) -Wl,-rpath,"$libdir" -o "$work/pc_version" || fail "pkg-config version_check link"
# -l:libfp8block.a takes the archive where -lfp8block would take the shared library.
# shellcheck disable=SC2046
$cc -std=c11 $(pkg-config --cflags fp8block) "$repo/examples/quickstart.c" \
    $(pkg-config --static --libs fp8block | sed 's/-lfp8block\b/-l:libfp8block.a/') -o "$work/pc_static" ||
    fail "pkg-config --static link (Libs.private)"
for exe in pc_shared pc_version pc_static; do "$work/$exe" || fail "pkg-config consumer $exe"; done
if grep -q libfp8block <<<"$(ldd "$work/pc_static")"; then fail "pc_static loads the shared library"; fi
echo "install: 6 passed, 0 failed"
