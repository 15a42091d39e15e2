"""Train a small MLP in FP8 (fp8block.torch.Linear) beside the same model in bf16.

A fixed random teacher MLP maps x (tokens x d_model) to a target; two students with identical
initial weights learn it. --task lm (the default) is shaped like language-model pretraining,
where FP8 block scaling is used: the teacher gives logits over --vocab classes, each token's
label is drawn from their softmax afresh at every step, and the students minimise
cross-entropy, so the loss ends near the labels' entropy (about 3 nats), what no model can
remove. --task regression: the teacher's output plus noise of 0.01, mean squared error; there
the loss falls far below the FP8 forward's own error (3.6e-2 relative), so the gap to bf16 is
larger (+1.3% to +3.8% at the end on an H100, bench/NOTES.md). Students: one with torch.nn.Linear layers computing in bf16
(autocast), one with fp8block.torch.Linear layers (forward, input-gradient and weight-gradient
GEMMs in FP8 with DeepSeek-V3's 1x128 / 128x128 block scales, weights re-quantized each step).
Both keep fp32 master weights (--master bf16: bf16 weights, no autocast; AdamW on bf16 weights
spikes, which makes the two curves hard to compare). Activations are bf16 in both. Same data,
same optimizer and learning-rate schedule (a short warm-up, then cosine decay to zero: at a
constant rate both losses still swing by +-30% from step to step at the end, more than the
difference being measured), same steps. The script prints both loss curves, the FP8 run's final
loss against bf16's (the median of the last tenth of the steps), the time of a training step
(forward + backward + optimizer) of each, and optionally plots the curves (--plot, needs
matplotlib) and writes them as JSON (--json).

    python examples/train_mlp.py                          # CUDA device 0 (Hopper)
    python examples/train_mlp.py --device cpu --steps 40 --d-model 256 --hidden 512 --tokens 256

Needs PyTorch, the fp8block package (pip install ./python, or PYTHONPATH=python) and
libfp8block.so; for --device cuda an sm_90 GPU. Exit status 1 when the FP8 run's final loss
is more than --tolerance (default 2%) above bf16's.
"""

import argparse
import copy
import json
import math
import statistics
import sys
import time


def mlp(d_model, hidden, depth, out_features, torch):
    """depth residual blocks x + W2·gelu(W1·x), then an output layer to out_features."""
    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.up = torch.nn.Linear(d_model, hidden)
            self.down = torch.nn.Linear(hidden, d_model)

        def forward(self, x):
            return x + self.down(torch.nn.functional.gelu(self.up(x)))

    return torch.nn.Sequential(*[Block() for _ in range(depth)], torch.nn.Linear(d_model, out_features))


def to_fp8(model, fbt, torch):
    """The same model with every nn.Linear replaced by fp8block.torch.Linear (same weights)."""
    model = copy.deepcopy(model)
    for name, child in list(model.named_children()):
        if isinstance(child, torch.nn.Linear):
            setattr(model, name, fbt.Linear.from_float(child))
        else:
            setattr(model, name, to_fp8(child, fbt, torch))
    return model


def warmup_cosine(steps):
    """The learning-rate factor of a step: linear warm-up over the first 5%, then cosine to 0."""
    warm = max(1, steps // 20)
    return lambda step: (step + 1) / warm if step < warm else \
        0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))


def train(model, batches, targets, steps, lr, torch, sync, autocast, task):
    """Losses per step and the median time of a step (forward, backward, AdamW); autocast:
    the forward under torch.autocast to bf16 (the baseline with fp32 master weights)."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(steps))
    device_type = next(model.parameters()).device.type
    losses, times = [], []
    for step in range(steps):
        x, y = batches[step % len(batches)], targets[step % len(targets)]
        sync()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=autocast):
            out = model(x)
        if task == "lm":
            loss = torch.nn.functional.cross_entropy(out.float().flatten(0, -2), y.flatten())
        else:
            loss = torch.nn.functional.mse_loss(out.float(), y.float())
        loss.backward()
        opt.step()
        schedule.step()
        sync()
        times.append(time.perf_counter() - t0)
        losses.append(float(loss.detach()))
    return losses, statistics.median(times[len(times) // 4:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    ap.add_argument("--task", choices=("lm", "regression"), default="lm", help="see above (default lm)")
    ap.add_argument("--vocab", type=int, default=1024, help="classes of --task lm")
    ap.add_argument("--d-model", type=int, default=1024)
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--depth", type=int, default=2, help="residual MLP blocks")
    ap.add_argument("--tokens", type=int, default=4096, help="rows of each batch (batch x sequence)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (warm-up, then cosine to 0)")
    ap.add_argument("--master", choices=("fp32", "bf16"), default="fp32", help="the weights' dtype (default fp32)")
    ap.add_argument("--tolerance", type=float, default=0.02, help="allowed excess of the FP8 final loss")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", help="write the two loss curves to this PNG file")
    ap.add_argument("--json", help="write the losses and times here")
    args = ap.parse_args()

    import torch
    import fp8block.torch as fbt

    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(args.seed)
    out_features = args.vocab if args.task == "lm" else args.d_model
    with torch.no_grad():
        teacher = mlp(args.d_model, args.hidden, args.depth, out_features, torch).to(device, torch.bfloat16)
        batches = [torch.randn(8, args.tokens // 8, args.d_model, device=device, dtype=torch.bfloat16)
                   for _ in range(16)]
        if args.task == "lm":
            logits = [teacher(x).float() for x in batches]
            sharpen = 3.0 / logits[0].std()  # logits of std 3: labels of about 3 nats of entropy
            probs = [torch.softmax(z.flatten(0, -2) * sharpen, -1) for z in logits]
            # labels drawn afresh every step (step s from batch s % 16's probabilities): drawn
            # once, 16 batches of them are memorised and the loss falls far below the floor
            targets = [torch.multinomial(probs[s % len(probs)], 1).view(logits[0].shape[:-1])
                       for s in range(args.steps)]
            floor = float(sum(-(p * p.clamp_min(1e-30).log()).sum(-1).mean() for p in probs) / len(probs))
        else:
            targets = [teacher(x) + 0.01 * torch.randn_like(x) for x in batches]
            floor = 0.01 ** 2
    master = torch.float32 if args.master == "fp32" else torch.bfloat16
    student = mlp(args.d_model, args.hidden, args.depth, out_features, torch).to(device, master)
    fp8_student = to_fp8(student, fbt, torch)

    runs = {}
    for name, model in (("bf16", student), ("fp8", fp8_student)):
        autocast = name == "bf16" and master == torch.float32
        losses, step_s = train(model, batches, targets, args.steps, args.lr, torch, sync, autocast, args.task)
        runs[name] = {"losses": losses, "step_ms": step_s * 1e3}
    tail = max(1, args.steps // 10)
    # the median of the last tenth: a single late spike of either run (AdamW on bf16 weights
    # has them) does not decide the comparison
    final = {name: statistics.median(r["losses"][-tail:]) for name, r in runs.items()}
    excess = final["fp8"] / final["bf16"] - 1

    print(f"task {args.task}: MLP {args.depth} x ({args.d_model} -> {args.hidden} -> {args.d_model}) "
          f"+ head to {out_features}, "
          f"{args.tokens} tokens a batch, {args.steps} AdamW steps, lr {args.lr} cosine, {args.master} weights, "
          f"on {device}")
    print(f"the loss no model can go below (the labels' entropy, or the noise's variance): {floor:.5f}")
    print(f"{'step':>6} {'bf16 loss':>12} {'fp8 loss':>12}")
    for step in sorted(set(list(range(0, args.steps, max(1, args.steps // 15))) + [args.steps - 1])):
        print(f"{step:>6} {runs['bf16']['losses'][step]:>12.5f} {runs['fp8']['losses'][step]:>12.5f}")
    print(f"final loss (median of the last {tail} steps): bf16 {final['bf16']:.5f}, fp8 {final['fp8']:.5f} "
          f"({100 * excess:+.2f}%; bar {100 * args.tolerance:.0f}%)")
    print(f"training step: bf16 {runs['bf16']['step_ms']:.2f} ms, fp8 {runs['fp8']['step_ms']:.2f} ms "
          f"({runs['bf16']['step_ms'] / runs['fp8']['step_ms']:.2f}x)")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "floor": floor, "final": final, "excess": excess, "runs": runs}, f, indent=1)
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, r in runs.items():
            ax.plot(r["losses"], label=f"{name} ({r['step_ms']:.1f} ms/step)")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("MSE loss")
        ax.set_title(f"MLP on {device}: fp8block.torch.Linear vs bf16 nn.Linear")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
    return 0 if excess <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
