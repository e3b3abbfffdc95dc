"""Does having ``segattn.explain`` cost anything when it is not in use? Train step and prediction, before vs after.

The explain code adds nothing to any module's ``forward``: its hooks exist only inside ``with Capture(net)``. This
measures it anyway. The package as it was at ``--before`` (default: where this branch left ``main``, their merge
base, so nothing but this branch's changes differs) is extracted with ``git archive`` into a temporary folder and
imported in this same process under the same name (``sys.modules`` is swapped while its model is built), beside
this tree's package with ``segattn.explain`` imported. Both build the same attention UNet (``--encoder``, every
decoder stage with attention: self-attention on the deepest, then cbam, scse, se, the Oktay gate) with the same
weights, and a second "before" model is the control (before' ÷ before is the A/A ratio: what noise alone gives).
The outputs are checked equal, then all three are timed in interleaved rounds (``_common.interleaved_times``):

- **train step**: forward + backward of a batch (``--batch`` x 3 x ``--size``²), gradients zeroed, train mode;
- **predict**: a forward in eval mode under ``torch.inference_mode`` (what a prediction tile batch costs).

The ratio is after ÷ before, the median of the per-round ratios, with a 95% bootstrap interval of that median
(the noise floor of this machine at the time). Also counted: forward hooks on the model and torch's global module
hooks after ``segattn.explain`` is imported (both must be 0: nothing of explain runs unless it is called).
``--clock cpu`` (with ``--threads 1``) times the CPU time of the timing thread instead of wall time: on a machine
shared with other busy processes wall time per round varies by a factor of two, CPU time much less. Prints a
table, writes ``bench/results/explain_cost.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing segattn
from bench import _common  # noqa: E402

ATTENTION = ["self_attention", "cbam", "scse", "se", "gate"]


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=_common.REPO_ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


def extract(rev: str, folder: Path) -> str:
    """``segattn/`` as it is at ``rev``, written under ``folder``; returns the commit."""
    commit = _git("rev-parse", rev)
    archive = subprocess.run(
        ["git", "archive", commit, "segattn"], cwd=_common.REPO_ROOT, check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return commit


def build(config: dict, root: Path | None) -> torch.nn.Module:
    """``AttentionUnet(**config)`` from this tree (``root`` None, with ``segattn.explain`` imported) or from the
    package extracted under ``root``; ``sys.modules`` is restored afterwards."""
    saved = {k: v for k, v in sys.modules.items() if k == "segattn" or k.startswith("segattn.")}
    try:
        if root is not None:
            for k in saved:
                del sys.modules[k]
            sys.path.insert(0, str(root))
        from segattn.models import AttentionUnet

        if root is None:
            import segattn.explain  # noqa: F401  - imported, never used: the state the question is about
        else:
            assert Path(sys.modules["segattn"].__file__).is_relative_to(root)
        return AttentionUnet(**config)
    finally:
        if root is not None:
            sys.path.remove(str(root))
            for k in [k for k in sys.modules if k == "segattn" or k.startswith("segattn.")]:
                del sys.modules[k]
            sys.modules.update(saved)


def bootstrap_median_ci(values: list[float], n: int = 2000, seed: int = 0) -> list[float]:
    """95% percentile-bootstrap interval of the median of ``values``."""
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(np.asarray(values), size=(n, len(values)), replace=True), axis=1)
    return [float(np.quantile(medians, 0.025)), float(np.quantile(medians, 0.975))]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", default=None, help="git revision before the change (default: merge base with main)")
    p.add_argument("--encoder", default="resnet18", help="encoder of the attention UNet")
    p.add_argument("--size", type=int, default=256, help="image side")
    p.add_argument("--batch", type=int, default=4, help="images per step")
    p.add_argument("--rounds", type=int, default=20, help="timed rounds (each times both models)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="cpu: this thread's CPU time (1 thread)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true", help="tiny shapes, 2 rounds: a smoke run, not data")
    p.add_argument("--out", default="explain_cost", help="results JSON (a bare name goes to bench/results/)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.quick:
        args.size, args.batch, args.rounds = 64, 1, 2
    if args.clock == "cpu":
        if args.device != "cpu" or (args.threads or 1) != 1:
            raise SystemExit("--clock cpu measures one CPU thread: use --threads 1 --device cpu")
        args.threads = 1
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    device = torch.device(args.device)
    config = {"encoder_name": args.encoder, "attention": ATTENTION, "decoder_channels": [128, 64, 32, 16, 16]}
    if args.before is None:
        args.before = _git("merge-base", "HEAD", "main")
    with tempfile.TemporaryDirectory(prefix="explain_cost_") as tmp:
        before_commit = extract(args.before, Path(tmp))
        after, before = build(config, None).to(device), build(config, Path(tmp)).to(device)
        control = build(config, Path(tmp)).to(device)  # a second "before": the A/A ratio is the noise floor
    before.load_state_dict(after.state_dict())
    control.load_state_dict(after.state_dict())
    x = torch.randn(args.batch, 3, args.size, args.size, device=device, generator=torch.Generator().manual_seed(0))
    for net in (after, before, control):  # a non-zero residual scale, so self-attention does its work in the output
        with torch.no_grad():
            net.decoder.blocks[0].attention2.gamma.fill_(0.5)
    with torch.inference_mode():
        same = torch.equal(after.eval()(x), before.eval()(x))

    def train_step(net: torch.nn.Module) -> None:
        net.train()
        net.zero_grad(set_to_none=True)
        net(x).square().mean().backward()

    def predict(net: torch.nn.Module) -> None:
        net.eval()
        with torch.inference_mode():
            net(x)

    hooks = {
        "model": sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in after.modules()),
        "global": len(torch.nn.modules.module._global_forward_hooks)
        + len(torch.nn.modules.module._global_forward_pre_hooks),
    }
    rows = []
    for what, step in (("train step", train_step), ("predict", predict)):
        fns = {
            "before": lambda s=step: s(before),
            "after": lambda s=step: s(after),
            "control": lambda s=step: s(control),
        }
        times = _common.interleaved_times(fns, repeats=args.rounds, warmup=2, device=device, clock=clock)
        ratios = [a / b for a, b in zip(times["after"], times["before"], strict=True)]
        control_ratios = [a / b for a, b in zip(times["control"], times["before"], strict=True)]
        rows.append(
            {
                "what": what,
                "before_ms": 1000 * _common.median(times["before"]),
                "after_ms": 1000 * _common.median(times["after"]),
                "after_vs_before": _common.median_ratio(times["after"], times["before"]),
                "ci95": bootstrap_median_ci(ratios),
                "control_vs_before": _common.median(control_ratios),
                "control_ci95": bootstrap_median_ci(control_ratios),
                "round_ratios": ratios,
                "control_round_ratios": control_ratios,
            }
        )
    head = ["what", "before ms", "after ms", "after ÷ before", "95% CI", "A/A: before' ÷ before", "95% CI"]
    table = [
        [r["what"], f"{r['before_ms']:.1f}", f"{r['after_ms']:.1f}", f"{r['after_vs_before']:.4f}"]
        + [f"{r['ci95'][0]:.3f}–{r['ci95'][1]:.3f}", f"{r['control_vs_before']:.4f}"]
        + [f"{r['control_ci95'][0]:.3f}–{r['control_ci95'][1]:.3f}"]
        for r in rows
    ]
    print(_common.format_table(head, table))
    print(
        f"outputs equal: {same}; hooks on the model {hooks['model']}, global {hooks['global']}; before = {args.before}"
    )
    config = vars(args) | {"before_commit": before_commit, "model": config}
    payload = {"benchmark": "explain_cost", "machine": _common.machine_info(device), "config": config}
    payload |= {"outputs_equal": same, "hooks": hooks, "rows": rows}
    _common.write_json(payload, args.out)
    return payload


if __name__ == "__main__":
    main()
