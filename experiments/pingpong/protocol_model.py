"""Experiment: the stage ring's protocol for the design in bench/NOTES.md "Next: the epilogue beside
the next tile's K blocks" (not built): the two math warpgroups of a CTA on different units, unit u
belonging to warpgroup u % 2, one producer and one B-scale warp filling the ring in unit order as
today, a 2-CTA pair sharing A by multicast (each CTA's warpgroup w on the same units as its peer's).
The one new element is that a warpgroup must step its ring position over the other warpgroup's
units: continuously, by their K-block counts; in turns (every unit from stage 0, a phase bit per
stage), by flipping each stage's bit once per use the other unit made of it. And an ordered
hand-over: warpgroup w starts unit u's K blocks only after u - 1's have all been waited for. It is
what lets one epilogue run beside the other's K blocks, and the model finds it is also what keeps
the protocol correct: without it a warpgroup can wait on a stage's next use before the other has
seen the current one complete, and an mbarrier waited on parity P reports done while its phase is
two behind (phase 0 "completes" parity 1), so the warpgroup reads the stage a use early. Each run
checks that every stage a warpgroup reads holds the K block it expects (data tags) until it
releases it, and that nothing deadlocks, over 2-6 stages (the branch's kernels have 3-5). Mutations must fail: no hand-over, a warpgroup that does
not step over the other's units, and one that steps over them by one K block too few.

Usage: python3 experiments/pingpong/protocol_model.py   (prints "ok N", then each mutation caught)
"""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ring-turns"))
from ring_model import Bar, free_stages, ring_parity, ring_step, ring_unit_start  # noqa: E402


class Deadlock(Exception):
    pass


def skip_unit(at, kt, S, turns, short=0):
    """The ring position after a unit of kt K blocks that another warpgroup consumes."""
    ring_unit_start(at, turns)
    for _ in range(kt - short):
        at = ring_step(at, S, turns)
    return at


def run(S, kbs, turns, ordered, seed, mut=None):
    rnd = random.Random(seed)
    C, WGS = 2, 2
    full = [[Bar(2) for _ in range(S)] for _ in range(C)]
    # one warpgroup consumes each stage use: its own CTA's arrival and one from the peer's same warpgroup
    empty = [[Bar(2) for _ in range(S)] for _ in range(C)]
    content = [[{} for _ in range(S)] for _ in range(C)]
    events = []
    issued_through = [[-1] for _ in range(C)]  # per CTA: the last unit whose K blocks were all waited for

    def producer(c):
        for step in free_stages(kbs, S, turns, empty[c]):
            if step is None:
                yield; continue
            u, kb, st = step
            full[c][st].expect(60); full[c][st].arrive()
            tag = (u, kb)
            for dst in range(C):  # this CTA's half of A, multicast to both
                def land(dst=dst, st=st, tag=tag):
                    content[dst][st]['a%d' % c] = tag; full[dst][st].complete(20)
                events.append(land)
            def landb(st=st, tag=tag):
                content[c][st]['b'] = tag; full[c][st].complete(20)
            events.append(landb)
            yield

    def bscale(c):
        for step in free_stages(kbs, S, turns, empty[c]):
            if step is None:
                yield; continue
            u, kb, st = step
            content[c][st]['sb'] = (u, kb); full[c][st].arrive()
            yield

    def math(c, wg):
        at = [0, 0]
        for u, kt in enumerate(kbs):
            if u % WGS != wg:
                if mut != 'no_skip':
                    at = skip_unit(at, kt, S, turns, short=1 if mut == 'short_skip' and kt > 1 else 0)
                continue
            if ordered:  # the hand-over: the previous unit's K blocks are all issued
                while issued_through[c][0] < u - 1: yield
            ring_unit_start(at, turns)
            for kb in range(kt):
                st, par = at[0], ring_parity(at, turns)
                while not full[c][st].done(par): yield
                tag = (u, kb)
                for k in ('a0', 'a1', 'b', 'sb'):
                    assert content[c][st].get(k) == tag, ("read", c, wg, st, k, content[c][st].get(k), tag)
                if kb == kt - 1:  # the hand-over: every K block of u waited for (the wgmma may still run)
                    issued_through[c][0] = max(issued_through[c][0], u)
                yield  # wgmma in flight
                for k in ('a0', 'a1', 'b'):
                    assert content[c][st].get(k) == tag, ("overwritten under wgmma", c, wg, st, k)
                empty[c][st].arrive(); empty[1 - c][st].arrive()
                at = ring_step(at, S, turns)
            for _ in range(rnd.randrange(1, 8)):
                yield  # the epilogue, while the other warpgroup's K blocks run

    gens = []
    for c in range(C):
        gens += [producer(c), bscale(c)] + [math(c, wg) for wg in range(WGS)]
    live = list(gens); stuck = 0
    while live or events:
        if events and (not live or rnd.random() < 0.35):
            events.pop(rnd.randrange(len(events)))(); stuck = 0; continue
        g = rnd.choice(live)
        try:
            next(g)
        except StopIteration:
            live.remove(g); stuck = 0; continue
        stuck += 1
        if stuck > 100000:
            raise Deadlock()
    return True


def unit_lists(S):
    """Tiles' K-block counts: equal as in a plain GEMM's walk (0 and 1 tiles too), and uneven."""
    return ([], [4], [1] * 6, [2] * 6, [3] * 5, [4] * 5, [S] * 4, [S + 1] * 4, [7] * 4, [1, 5, 2, 7, 3, 1, 1, 4],
            [9, 1, 6, 2])


n = 0
for turns in (False, True):
    for S in (2, 3, 4, 5, 6):
        for kbs in unit_lists(S):
            for seed in range(20):
                run(S, kbs, turns, True, seed); n += 1
print("ok", n, "runs (two warpgroups on alternating units with the hand-over, pair sharing A; continuous and in turns)")

for mut in ('no_handover', 'no_skip', 'short_skip'):
    caught = None
    for turns in (False, True):
        for S in (3, 4):
            for kbs in ([1, 5, 2, 7, 3, 1, 1, 4], [2] * 6, [3] * 5):
                for seed in range(6):
                    try:
                        run(S, kbs, turns, mut != 'no_handover', seed, mut=mut)
                    except (AssertionError, Deadlock) as e:
                        caught = caught or (turns, S, kbs, seed, type(e).__name__, str(e)[:60])
    print("mutation", mut, "->", "caught" if caught else "NOT CAUGHT", caught)
