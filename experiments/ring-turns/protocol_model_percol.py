"""Extension of experiments/ring-turns/protocol_model.py to the kernels the branch's widening put in
turns (main keeps them on the continuous ring since 5a707d7, which measured them slower in turns):
the 192x128 pairs sharing A (CLUSTER_SHARES_A, A multicast in halves, B and A scales by
the CTA's own TMA), three math warpgroups with one wave each running the *simple* turns loop
(issue_at = {s, bit}, release_at = {s, 0}, kblock_start / kblock_end), and either
 - the per-column B-scale warp (B_PER_COL, the weight gradient): full[s] counts 33 arrivals,
   the producer's arrive_expect_tx plus one cp.async.mbarrier.arrive.noinc per lane, every lane
   an independent agent that waits empty[s] itself (lanes diverge freely), each lane's 16-byte
   copy landing at a random later moment; the math warps read the column scales (kblock_finish_per_col)
   after the wgmma and before giving the stage back;
 - or the plain B-scale warp (lane 0 stores, arrives; full counts 2).
Mutations (role walking the continuous ring while the rest walk turns, release_at with the
wrong stage) must fail, to show the model can see the defect it looks for.
"""
import random

from ring_model import Bar, free_stages

class Deadlock(Exception): pass

def run(S, kbs, per_col, seed, turns=True, mut=None):
    rnd = random.Random(seed)
    C = 2; MATH = 3; LANES = 32
    A_BYTES, B_BYTES, SA_BYTES = 40, 20, 6   # stage_bytes = 66; A multicast in halves of 20
    full = [[Bar(33 if per_col else 2) for _ in range(S)] for _ in range(C)]
    # every local math thread (aggregated per warpgroup) + one lane per peer math warp (aggregated)
    empty = [[Bar(MATH + MATH) for _ in range(S)] for _ in range(C)]
    content = [[{} for _ in range(S)] for _ in range(C)]
    events = []
    role_turns = lambda role: (False if mut == ('cont', role) else turns)

    def producer(c):
        for step in free_stages(kbs, S, role_turns('producer'), empty[c]):
            if step is None:
                yield; continue
            u, kb, st = step
            full[c][st].expect(A_BYTES + B_BYTES + SA_BYTES); full[c][st].arrive()
            tag = (u, kb)
            for dst in range(C):      # this CTA's half of A, multicast to both
                def land(dst=dst, st=st, tag=tag):
                    content[dst][st]['a%d' % c] = tag; full[dst][st].complete(A_BYTES // 2)
                events.append(land)
            def landb(st=st, tag=tag):
                content[c][st]['b'] = tag; full[c][st].complete(B_BYTES)
            def landsa(st=st, tag=tag):
                content[c][st]['sa'] = tag; full[c][st].complete(SA_BYTES)
            events.append(landb); events.append(landsa)
            yield

    def percol_lane(c, l):
        for step in free_stages(kbs, S, role_turns('bscale'), empty[c]):
            if step is None:
                yield; continue
            u, kb, st = step
            tag = (u, kb)
            # cp.async issued now; the .noinc arrival fires when it lands
            def lands(st=st, tag=tag):
                content[c][st]['sb%d' % l] = tag; full[c][st].arrive()
            events.append(lands)
            yield

    def plain_bscale(c):
        for step in free_stages(kbs, S, role_turns('bscale'), empty[c]):
            if step is None:
                yield; continue
            u, kb, st = step
            content[c][st]['sb'] = (u, kb); full[c][st].arrive()
            yield

    tile_keys = ['a0', 'a1', 'b', 'sa']
    sb_keys = ['sb%d' % l for l in range(LANES)] if per_col else ['sb']

    def math_simple_turns(c, wg):
        phase = 0                       # issue.phase: a bit per stage
        for u, kt in enumerate(kbs):
            kb = 0
            while kb < kt:
                for s in range(S):
                    if kb + s < kt:
                        issue_at = [s, (phase >> s) & 1]
                        release_at = [(s + 1) % S if mut == 'release_stage' else s, 0]
                        tag = (u, kb + s)
                        # kblock_start: wait full[issue_at.stage] on issue_at.phase, read sa
                        # (and sb unless per column), issue the wgmma
                        while not full[c][issue_at[0]].done(issue_at[1]): yield
                        st = issue_at[0]
                        for k in tile_keys + ([] if per_col else sb_keys):
                            assert content[c][st].get(k) == tag, ("issue", c, wg, st, k, content[c][st].get(k), tag)
                        yield   # wgmma in flight reading A, B
                        for k in tile_keys:
                            assert content[c][st].get(k) == tag, ("overwritten under wgmma", c, st, k)
                        # kblock_end: per column, read the column scales of release_at.stage first
                        rs = release_at[0]
                        if per_col:
                            for k in sb_keys:
                                assert content[c][rs].get(k) == tag, ("col scales", c, wg, rs, k, content[c][rs].get(k), tag)
                        empty[c][rs].arrive(); empty[1 - c][rs].arrive()   # local + peer (one lane per warp)
                        phase ^= 1 << s
                kb += S
            yield   # epilogue

    def math_continuous(c, wg):
        st, ph = 0, 0
        for u, kt in enumerate(kbs):
            for kb in range(kt):
                while not full[c][st].done(ph): yield
                tag = (u, kb)
                for k in tile_keys + sb_keys: assert content[c][st].get(k) == tag, ("cont", c, st, k)
                yield
                for k in tile_keys + sb_keys: assert content[c][st].get(k) == tag
                empty[c][st].arrive(); empty[1 - c][st].arrive()
                st += 1
                if st == S: st = 0; ph ^= 1

    gens = []
    for c in range(C):
        gens.append(producer(c))
        if per_col: gens += [percol_lane(c, l) for l in range(LANES)]
        else: gens.append(plain_bscale(c))
        m = math_continuous if (mut == ('cont', 'math') or not turns) else math_simple_turns
        gens += [m(c, wg) for wg in range(MATH)]
    live = list(gens); stuck = 0
    while live or events:
        if events and (not live or rnd.random() < 0.3):
            events.pop(rnd.randrange(len(events)))(); stuck = 0; continue
        g = rnd.choice(live)
        try: next(g)
        except StopIteration: live.remove(g); stuck = 0; continue
        stuck += 1
        if stuck > 200000: raise Deadlock()
    # every barrier must have finished its phases: full[c][s] completed once per use of s
    return True

KBS = lambda S: ([1]*5, [2]*5, [3]*4, [4]*4, [5]*3, [7]*3, [S]*3, [S+1]*3, [1, 5, 2, 7, 3, 1, 1, 4], [9, 1, 6])
n = 0
for per_col in (True, False):
    for S in (3, 4):
        for kbs in KBS(S):
            for seed in range(25 if per_col else 40):
                run(S, kbs, per_col, seed); n += 1
print("ok", n, "runs (turns, simple loop, 3 math wgs, pair sharing A; per-column and plain B-scale warp)")

# continuous baseline, for comparison
m = 0
for per_col in (True, False):
    for S in (3, 4):
        for kbs in KBS(S)[:6]:
            for seed in range(5):
                run(S, kbs, per_col, seed, turns=False); m += 1
print("ok", m, "continuous runs")

# mutations: each must fail (assertion or deadlock) on some run
for mut in [('cont', 'bscale'), ('cont', 'producer'), ('cont', 'math'), 'release_stage']:
    caught = None
    for per_col in (True, False):
        for S in (3, 4):
            for kbs in ([1, 5, 2, 7, 3, 1, 1, 4], [2]*5):
                for seed in range(10):
                    try: run(S, kbs, per_col, seed, mut=mut)
                    except (AssertionError, Deadlock) as e:
                        caught = caught or (per_col, S, kbs, seed, type(e).__name__, str(e)[:60])
    print("mutation", mut, "->", "caught" if caught else "NOT CAUGHT", caught)
