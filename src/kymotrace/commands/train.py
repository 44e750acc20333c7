"""``kymotrace train classifier|uni|bi|decision``: train a neural module on synthetic data."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("module", choices=["classifier", "uni", "bi", "decision"], help="which module to train")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of this training chunk (default 10)")
    parser.add_argument("--device", default="auto", help="auto (GPU when present), cpu or cuda")
    parser.add_argument("--steps", type=int, default=None, help="stop this chunk after N steps, if --minutes has not run out first")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    parser.add_argument("--reset-lr", action="store_true", help="with --resume: restart the learning-rate schedule at --lr, halved every --decay-every steps")
    parser.add_argument("--from-best", action="store_true", help="with --resume: continue from the best validated weights instead of the last ones")
    parser.add_argument("--reset-best", action="store_true", help="with --resume: forget the best validation score (after changing the data)")
    parser.add_argument("--run-dir", default="training", help="folder for checkpoints and logs (default ./training)")
    parser.add_argument("--batch", type=int, default=None, help="batch size")
    parser.add_argument("--crop", type=int, default=128, help="training crop size, px (multiple of 16)")
    parser.add_argument("--lr", type=float, default=1e-3, help="initial Adam learning rate")
    parser.add_argument("--decay-every", type=int, default=4000, help="halve the learning rate every N steps")
    parser.add_argument("--val-every", type=int, default=200, help="validate every N steps")
    parser.add_argument("--seed", type=int, default=0, help="offset inside the training seed range")
    parser.add_argument("--base", type=int, default=None, help="U-Net width (channels at the first level)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument("--workers", type=int, default=0, help="processes making training data (default 0: one background thread); for a GPU machine with many cores")
    parser.add_argument("--style", choices=["varied", "varied+static", "paper"], default="varied", help="synthetic data variety")
    parser.add_argument(
        "--export", metavar="NAME", default=None,
        help="instead of training: tune the threshold on validation data and write the best checkpoint as a shipped model NAME",
    )
    parser.add_argument("--export-dir", default=None, help="folder for --export (default: the package's weights folder)")


def run(args: argparse.Namespace) -> int:
    from ..errors import OptionError
    from ..train.loop import TrainConfig

    if args.crop % 16 or args.crop < 32:
        raise OptionError(f"--crop must be a multiple of 16 and at least 32, got {args.crop}")
    if args.batch is not None and args.batch < 1:
        raise OptionError(f"--batch must be at least 1, got {args.batch}")
    arch = {"base": args.base} if args.base else {}
    cfg = TrainConfig(
        module=args.module, minutes=args.minutes, steps=args.steps, device=args.device, resume=args.resume,
        run_dir=args.run_dir, crop=args.crop, lr=args.lr, decay_every=args.decay_every,
        val_every=args.val_every, seed=args.seed, reset_best=args.reset_best, reset_lr=args.reset_lr, from_best=args.from_best, threads=args.threads, workers=args.workers, style=args.style, arch=arch,
        **({"batch": args.batch} if args.batch else {}),
    )
    if args.export:
        from ..train.export import export

        path = export(cfg, args.export, out_dir=args.export_dir, command=" ".join(["kymotrace"] + sys.argv[1:]))
        print(f"wrote {path}")
        return 0
    from ..train.loop import train

    summary = train(cfg)
    print(f"trained to step {summary['step']}; best validation {summary['best']}; checkpoint {summary['checkpoint']}")
    return 0
