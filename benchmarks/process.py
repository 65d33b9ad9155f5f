"""Benchmark: one DLinear official ETTh1 run as a whole process, from start to exit, against another command
doing the same job (Time-Series-Library's run.py), alternated so both see the same machine.

Ours is `python run_suite.py run benchmarks/dlinear-one-run.yaml` on a fresh store each time (L = 336,
H = 96, batch 32, lr 0.005, type1, 10 epochs, patience 10 so none stops early, one torch thread). The other
command is given whole, e.g. a checkout of thuml/Time-Series-Library running `run.py --task_name
long_term_forecast --is_training 1 --model DLinear --data ETTh1 --features M --seq_len 336 --label_len 48
--pred_len 96 --enc_in 7 --dec_in 7 --c_out 7 --train_epochs 10 --patience 10 --batch_size 32
--learning_rate 0.005 --lradj type1 --num_workers 0 --no_use_gpu --itr 1` with OMP_NUM_THREADS=1.

Usage: python benchmarks/process.py --other 'bash tslib-job.sh' [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]


def wall_seconds(command: list[str] | str, shell: bool = False) -> float:
    start = time.perf_counter()
    subprocess.run(command, shell=shell, check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--other", required=True, help="the other job's shell command")
    parser.add_argument("--label", default="Time-Series-Library run.py")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(1, args.repeats + 1):
            store = Path(tmp) / f"run{i}.sqlite"
            suite = "benchmarks/dlinear-one-run.yaml"
            ours = wall_seconds([sys.executable, "run_suite.py", "run", suite, "--store", str(store)])
            other = wall_seconds(args.other, shell=True)
            rows.append([i, f"{ours:.2f}", f"{other:.2f}", f"{ours / other:.2f}"])
            print(f"repeat {i}: dynobench {ours:.2f} s, {args.label} {other:.2f} s", flush=True)
    ours_all = [float(r[1]) for r in rows]
    other_all = [float(r[2]) for r in rows]
    median_ours, median_other = statistics.median(ours_all), statistics.median(other_all)
    rows.append(["median", f"{median_ours:.2f}", f"{median_other:.2f}", f"{median_ours / median_other:.2f}"])
    print(tabulate(rows, ["repeat", "dynobench s", f"{args.label} s", "ratio"], tablefmt="github"))


if __name__ == "__main__":
    main()
