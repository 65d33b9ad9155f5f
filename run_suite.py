"""Entry point: `python run_suite.py <command> ...` (the same CLI as the `dynobench` console script)."""

from harness.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
