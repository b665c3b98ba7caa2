"""``adafv-eval``: the full model and AdaFV at several budgets, on the same tasks, in one table.

    adafv-eval --model adafv_llava_hf \\
        --model-args pretrained=llava-hf/llava-v1.6-vicuna-7b-hf,dtype=float16 \\
        --tasks paper --keep-ratios 0.25,0.1,0.05 --paper-model llava-next-7b

writes ``sweep.json`` (every score, answer and token count) and ``table.md`` to ``--output``
and prints the table.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from adafv_eval.benchmarks import PAPER_TASKS
from adafv_eval.published import MODELS as PAPER_MODELS
from adafv_eval.registry import MODELS


def _ints(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part]
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"--budgets {text!r}: give integers, e.g. 0,144,64"
        ) from err


def _floats(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--keep-ratios {text!r}: give numbers, e.g. 0.1") from err


def _limit(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and value >= 1 else value


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="adafv-eval", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, choices=sorted(MODELS), help="lmms-eval model id")
    p.add_argument(
        "--model-args",
        default="",
        help="the lmms-eval class's arguments, as lmms-eval's --model_args (pretrained=...)",
    )
    p.add_argument(
        "--tasks",
        required=True,
        help=f"comma-separated lmms-eval tasks; 'paper' for {','.join(PAPER_TASKS)}",
    )
    p.add_argument("--budgets", type=_ints, default=[], help="tokens kept per image; 0: full")
    p.add_argument("--keep-ratios", type=_floats, default=[], help="shares of tokens kept")
    p.add_argument(
        "--include-path",
        type=Path,
        help="a directory of lmms-eval task YAMLs of your own (lmms-eval's --include_path)",
    )
    p.add_argument("--device", default="cuda", help="torch device (default: cuda)")
    p.add_argument("--limit", type=_limit, help="samples per task, for a quick look")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument(
        "--force-simple",
        action="store_true",
        help="the model's simple class where lmms-eval also has a chat one (its --force_simple)",
    )
    p.add_argument(
        "--paper-model",
        choices=PAPER_MODELS,
        help="print the published AdaV / FasterVLM figures of this model beside the table",
    )
    p.add_argument("--output", type=Path, default=Path("build/eval"), help="output directory")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the sweep, print the table, write ``sweep.json`` and ``table.md``."""
    args = parser().parse_args(argv)
    from lmms_eval.utils import simple_parse_args_string

    from adafv_eval import sweep, table
    from adafv_eval.variants import variants

    tasks = [t for t in args.tasks.split(",") if t]
    if tasks == ["paper"]:
        tasks = list(PAPER_TASKS)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    result = sweep.run(
        args.model,
        simple_parse_args_string(args.model_args),
        tasks,
        variants(args.budgets, args.keep_ratios),
        device=args.device,
        limit=args.limit,
        work_dir=args.output / "data",
        seed=args.seed,
        batch_size=args.batch_size,
        force_simple=args.force_simple,
        include_path=args.include_path,
    )
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "sweep.json").write_text(result.to_json())
    (args.output / "table.md").write_text(table.markdown(result, args.paper_model))
    table.print_table(result, args.paper_model)
    print(f"wrote {args.output / 'sweep.json'} and {args.output / 'table.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
