#!/usr/bin/env bash
# For device-call/prebuild.sh (and any runner on the GPU machine, whose tree carries no .git):
# builds TARGETS on main's tree, then with each PATCH applied in turn (patch(1) on, build, off), and
# keeps FILES (paths in the build folder) of each under OUTDIR/NAME/, NAME "main" or the
# patch's file name without .patch. Builds log to OUTDIR/build.log. Prints the names built.
# Usage (sourced or run): experiments/build_variants.sh OUTDIR "TARGETS" "FILES" PATCH...
set -uo pipefail
out=$1 targets=$2 files=$3
shift 3
build=${BUILD:-build-ab}
mkdir -p "$out"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >"$out/build.log" 2>&1 || { echo "build_variants: cmake failed ($out/build.log)" >&2; exit 1; }
build_as() { # NAME
    # shellcheck disable=SC2086
    cmake --build "$build" -j "$(nproc)" --target $targets >>"$out/build.log" 2>&1 || return 1
    mkdir -p "$out/$1"
    for f in $files; do cp -L "$build/$f" "$out/$1/" || return 1; done
}
build_as main || { echo "build_variants: main did not build ($out/build.log)" >&2; exit 1; }
built=(main)
for p in "$@"; do
    name=$(basename "$p" .patch)
    # a dry run first: patch(1) applies the hunks that fit before it fails, and those stayed
    patch -p1 --quiet --dry-run <"$p" >/dev/null && patch -p1 --quiet <"$p" ||
        { echo "build_variants: $p does not apply (the tree is unchanged)" >&2; exit 1; }
    build_as "$name" && built+=("$name") || echo "build_variants: $name did not build ($out/build.log)" >&2
    patch -R -p1 --quiet <"$p"
done
echo "${built[@]}"
