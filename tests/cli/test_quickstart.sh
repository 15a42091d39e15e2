#!/usr/bin/env bash
# The public header alone is enough for a strict C11 program: compile the README's example
# with -std=c11 -Wall -Wextra -Werror -pedantic against the shared library, then run it.
set -euo pipefail
build=$(cd "$(dirname "$1")" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
${CC:-cc} -std=c11 -Wall -Wextra -Werror -pedantic -I"$repo/include" "$repo/examples/quickstart.c" \
    -L"$build" -lfp8block -Wl,-rpath,"$build" -o "$work/quickstart"
"$work/quickstart"
echo "quickstart: 1 passed, 0 failed"
