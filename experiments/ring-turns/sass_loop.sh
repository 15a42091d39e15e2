#!/usr/bin/env bash
# The innermost wgmma loop of the two kernels of one_kernel.cu: instructions and R2UR in it.
# Usage: experiments/ring-turns/sass_loop.sh [SRC_DIR]   (default: the repository's src; for the
# experiment, a copy of src with turns.patch applied: patch -p1 -d COPY < turns.patch, COPY
# holding src/). Needs nvcc and cuobjdump on the PATH.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-$here/../../src}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
nvcc -DFP8BLOCK_HAVE_CUDA=1 -I"$src" -I"$src/cuda" -I"$here/../../include" -O3 -DNDEBUG \
    -gencode=arch=compute_90a,code=sm_90a --ftz=false --prec-div=true --prec-sqrt=true -std=c++17 \
    -cubin -o "$work/k.cubin" "$here/one_kernel.cu"
cuobjdump -sass "$work/k.cubin" > "$work/k.sass"
python3 - "$work/k.sass" <<'PY'
import re, sys
funcs, cur = {}, None
for line in open(sys.argv[1]):
    m = re.match(r'\s+Function : (\S+)', line)
    if m:
        cur = 'grouped' if 'ELb1ELi0E' in m.group(1) else 'plain'
        funcs[cur] = []
        continue
    m = re.match(r'\s+/\*([0-9a-f]{4,})\*/\s+(.*?);', line)
    if cur and m:
        funcs[cur].append((int(m.group(1), 16), m.group(2).strip()))
for name, body in sorted(funcs.items()):
    at = {a: i for i, (a, _) in enumerate(body)}
    loops = []
    for i, (a, ins) in enumerate(body):
        m = re.search(r'BRA\s+(?:`?\(?)0x([0-9a-f]+)', ins) if 'BRA' in ins else None
        if m and int(m.group(1), 16) < a and int(m.group(1), 16) in at:
            seg = [x for _, x in body[at[int(m.group(1), 16)]:i + 1]]
            if any('GMMA' in x for x in seg):
                loops.append((len(seg), sum('GMMA' in x for x in seg), sum('R2UR' in x for x in seg)))
    inner = min(loops)
    print(f"{name:8s} {len(body)} instructions; innermost wgmma loop: {inner[0]} instructions, "
          f"{inner[1]} wgmma, {inner[2]} R2UR")
PY
