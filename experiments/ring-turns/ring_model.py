"""What the two protocol models of this folder share: an mbarrier (arrival count and transaction
bytes, completing a phase when both reach zero), a role's place in the stage ring walked
continuously or in turns (as ring_parity / ring_step / ring_unit_start in src/cuda/gemm_mainloop.cuh),
and the walk of a role that fills stages: each K block's stage once its empty barrier has freed it."""


class Bar:
    def __init__(s, count): s.count = count; s.pending = count; s.tx = 0; s.phase = 0
    def arrive(s, n=1):
        s.pending -= n; assert s.pending >= 0, "over-arrival"; s._maybe()
    def expect(s, b): s.tx += b
    def complete(s, b): s.tx -= b; s._maybe()
    def _maybe(s):
        if s.pending == 0 and s.tx == 0:
            s.phase += 1; s.pending = s.count
    def done(s, parity): return (s.phase & 1) != parity


def ring_parity(at, turns): return (at[1] >> at[0]) & 1 if turns else at[1]


def ring_step(at, S, turns):
    st, ph = at
    if turns:
        ph ^= 1 << st; st = 0 if st + 1 == S else st + 1
    else:
        st += 1
        if st == S: st = 0; ph ^= 1
    return [st, ph]


def ring_unit_start(at, turns):
    if turns: at[0] = 0


def free_stages(kbs, S, turns, empty):
    """A filling role's walk over units of kbs[u] K blocks: yields (unit, K block, stage) once
    empty[stage] has freed the stage, and None while it waits (the role yields control then)."""
    at = [0, 0]
    for u, kt in enumerate(kbs):
        ring_unit_start(at, turns)
        for kb in range(kt):
            st = at[0]; par = ring_parity(at, turns) ^ 1
            while not empty[st].done(par): yield None
            yield (u, kb, st)
            at = ring_step(at, S, turns)
