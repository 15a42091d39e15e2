"""Experiment: the stage ring's protocol as the kernels in turns run it (branch ring-turns; on main
since 5a707d7 the grouped kernels alone), modelled for a
2-CTA pair sharing A by multicast: the producer, the B-scale warp (plain, or grouped with 32 lanes'
A-scale copies), the math warpgroups and the peer's arrivals, with TMA and cp.async landings at
random moments. Each run checks that every stage the math warps read holds the K block they expect
(data tags) until they release it, and that nothing deadlocks, for the ring walked continuously and
in turns (every unit from stage 0, a phase bit per stage), over stage counts 3 and 4 and units of
1-7 K blocks. Written by the review of the branch's first commit; prints "ok N" after N runs.

Usage: python3 experiments/ring-turns/protocol_model.py
"""
import random

from ring_model import Bar, free_stages


def run(S, kbs, turns, grouped, seed):
    rnd = random.Random(seed)
    C = 2; MATH = 2
    full = [[Bar(34 if grouped else 2) for _ in range(S)] for _ in range(C)]
    empty = [[Bar(MATH + MATH) for _ in range(S)] for _ in range(C)]  # local wgs + peer wgs (aggregated)
    # stage contents: per CTA, per stage: dict half0, half1 (A halves), b, sa, sb
    content = [[{} for _ in range(S)] for _ in range(C)]
    events = []  # async landings: (fn)
    agents = []
    def producer(c):
        for step in free_stages(kbs, S, turns, empty[c]):
            if step is None:
                yield; continue
            u, kb, st = step
            full[c][st].expect(100 if not grouped else 90); full[c][st].arrive()
            tag = (u, kb)
            for dst in range(C):  # A half multicast: 40 bytes each
                def land(dst=dst, st=st, tag=tag):
                    content[dst][st]['a%d' % c] = tag; full[dst][st].complete(40)
                events.append(land)
            def landb(st=st, tag=tag):
                content[c][st]['b'] = tag; full[c][st].complete(10 if grouped else 20)
            events.append(landb)  # sa via TMA included in the 100 (40+40+20 = 100) unless grouped
    def bscale(c):
        for step in free_stages(kbs, S, turns, empty[c]):
            if step is None:
                yield; continue
            u, kb, st = step
            tag = (u, kb)
            if grouped:
                for l in range(32):
                    def lands(st=st, tag=tag, l=l):
                        content[c][st]['sa%d' % l] = tag; full[c][st].arrive()
                    events.append(lands)
            content[c][st]['sb'] = tag; full[c][st].arrive()
            yield
    def math(c, wg):
        phase = 0
        for u, kt in enumerate(kbs):
            kb = 0
            while kb < kt:
                for s in range(S):
                    if kb + s < kt:
                        par = (phase >> s) & 1
                        while not full[c][s].done(par): yield
                        tag = (u, kb + s)
                        keys = ['a0', 'a1', 'b', 'sb'] + (['sa%d' % l for l in range(32)] if grouped else [])
                        for k in keys: assert content[c][s].get(k) == tag, (c, wg, s, k, content[c][s].get(k), tag)
                        yield  # wgmma in flight
                        for k in keys: assert content[c][s].get(k) == tag, ("overwritten", c, s, k)
                        empty[c][s].arrive(); empty[1 - c][s].arrive()
                        phase ^= 1 << s
                kb += S
    if not turns:
        # continuous math as in the non-turns kernels
        def math(c, wg):
            st, ph = 0, 0
            for u, kt in enumerate(kbs):
                for kb in range(kt):
                    while not full[c][st].done(ph): yield
                    tag = (u, kb)
                    keys = ['a0', 'a1', 'b', 'sb'] + (['sa%d' % l for l in range(32)] if grouped else [])
                    for k in keys: assert content[c][st].get(k) == tag
                    yield
                    for k in keys: assert content[c][st].get(k) == tag
                    empty[c][st].arrive(); empty[1 - c][st].arrive()
                    st += 1
                    if st == S: st = 0; ph ^= 1
    gens = []
    for c in range(C):
        gens += [producer(c), bscale(c), math(c, 0), math(c, 1)]
    live = list(gens); stuck = 0
    while live or events:
        if events and (not live or rnd.random() < 0.4):
            events.pop(rnd.randrange(len(events)))(); stuck = 0; continue
        g = rnd.choice(live)
        try: next(g)
        except StopIteration: live.remove(g)
        stuck += 1
        if stuck > 20000: raise RuntimeError("deadlock")
    return True

n = 0
for turns in (True, False):
    for grouped in (False, True):
        for S in (3, 4):
            for kbs in ([1]*5, [2]*5, [3]*4, [4]*4, [5]*3, [7]*3, [S]*3, [1, 5, 2, 7, 3, 1, 1, 4]):
                for seed in range(40):
                    run(S, kbs, turns, grouped, seed); n += 1
print("ok", n)
