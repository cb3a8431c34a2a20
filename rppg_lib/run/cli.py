"""The ``rppg`` command (also ``python -m rppg_lib.run.cli``).

One function per subcommand: ``_add_<name>_parser(subparsers)`` declares its options and sets
``func`` to ``_cmd_<name>(args) -> int``. To add a subcommand, write that pair and list the
``_add_..._parser`` function in :data:`SUBCOMMANDS`.

Exit status: 0 on success, 1 when a notebook failed, 2 for bad arguments, params, files or
folders (one line ``rppg <command>: error: ...`` on stderr, never a traceback), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import rppg_lib
from rppg_lib.run.infer import register_infer_command
from rppg_lib.run.params import parse_overrides
from rppg_lib.run.runner import RunError, RunInterrupted, run
from rppg_lib.run.study import COMPARE_TOLERANCE, compare_records, run_study

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C

# Errors a user can fix (a bad value, a missing or unwritable file): one line, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError)


def _add_run_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="execute the notebooks of a params file with papermill and write a report",
        description=(
            "Execute the notebooks listed in a params file, in order, into a report folder "
            "(executed notebooks, figures/, tables/, metrics.json, manifest.json, index.html)."
        ),
    )
    parser.add_argument(
        "--params", required=True, help="params YAML file, e.g. params/default.yaml"
    )
    parser.add_argument(
        "--out", default=None, help="report folder (default: reports/<params file stem>)"
    )
    parser.add_argument(
        "-p",
        "--parameter",
        dest="parameters",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter (value parsed as YAML); NOTEBOOK.NAME=VALUE for one notebook "
        "only; repeatable",
    )
    parser.add_argument(
        "--notebooks-dir",
        default=None,
        help="folder of the notebooks (default: notebooks/ beside the params file's folder)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="if --out already holds a report, move it aside to <out>.old-<time> (never deleted)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out: keep the leading notebooks it completed with the same "
        "parameters and run the rest (a folder without a run starts afresh)",
    )
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        result = run(
            args.params,
            args.out,
            parse_overrides(args.parameters),
            notebooks_dir=args.notebooks_dir,
            force=args.force,
            resume=args.resume,
            kernel_name=args.kernel,
            progress=not args.no_progress,
        )
    except RunError as err:
        print(f"rppg run: {err}", file=sys.stderr)
        return EXIT_FAILED
    except RunInterrupted as err:
        print(
            f"rppg run: interrupted (Ctrl-C) during notebook {err.notebook}; the partial report "
            f"in {err.run_dir} is marked interrupted (status in manifest.json)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("rppg run: interrupted (Ctrl-C) while no notebook was running", file=sys.stderr)
        return EXIT_INTERRUPTED
    seconds = result.manifest["total_seconds"]
    print(f"rppg run: {len(result.manifest['notebooks'])} notebook(s) in {seconds:.1f} s")
    print(f"report: {result.index}")
    return EXIT_OK


def _add_study_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "study",
        help="run a params file once per seed (resuming) and write the study's record",
        description=(
            "Run the notebooks of a params file once per seed of its `study` section into "
            "<out>/runs/seed-<s>/ (each seed resumes where it stopped), then write the study's "
            "record to <out>: summary.md, metrics.json, manifest.json and the key figures."
        ),
    )
    parser.add_argument("--params", required=True, help="params YAML file, e.g. params/study.yaml")
    parser.add_argument(
        "--out", default=None, help="record folder (default: reports/<params file stem>)"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None,
        help="seeds to run (default: the params file's study.seeds)",
    )
    parser.add_argument(
        "-p", "--parameter", dest="parameters", action="append", default=[],
        metavar="NAME=VALUE", help="override a parameter for every seed, as in `rppg run`",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument(
        "--compare", default=None, metavar="OTHER",
        help="run nothing: compare the record in --out with the record in OTHER (the seeds both "
             "hold): every verdict and count, every number within --tolerance; exit status 1 "
             "when they differ",
    )
    parser.add_argument(
        "--tolerance", type=float, default=COMPARE_TOLERANCE, metavar="T",
        help=f"with --compare: numbers at most T apart are equal (default {COMPARE_TOLERANCE:g}, "
             "half the last digit summary.md prints; docs/study.md says what to expect)",
    )
    parser.set_defaults(func=_cmd_study)


def _cmd_study(args: argparse.Namespace) -> int:
    out = args.out if args.out is not None else f"reports/{Path(args.params).stem}"
    if args.compare is not None:
        return _compare_study(out, args.compare, args.tolerance)
    try:
        result = run_study(args.params, out, seeds=args.seeds,
                           overrides=parse_overrides(args.parameters),
                           progress=not args.no_progress)
    except RunError as err:
        print(f"rppg study: {err}", file=sys.stderr)
        return EXIT_FAILED
    except (RunInterrupted, KeyboardInterrupt):
        print("rppg study: interrupted (Ctrl-C); run the same command again to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"rppg study: {len(result.run_dirs)} seed(s); record: {result.summary}")
    return EXIT_OK


def _compare_study(record: str, other: str, tolerance: float) -> int:
    try:
        seeds, differences = compare_records(record, other, tolerance=tolerance)
    except USER_ERRORS as err:
        print(f"rppg study --compare: {err}", file=sys.stderr)
        return EXIT_USAGE
    for line in differences:
        print(line)
    verdict = f"{len(differences)} difference(s)" if differences else "the same numbers"
    print(f"rppg study --compare: seeds {seeds} of {record} and {other}: {verdict} within "
          f"{tolerance:g}")
    return EXIT_FAILED if differences else EXIT_OK


# Subcommands, in the order `rppg --help` lists them.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_run_parser,
    _add_study_parser,
    register_infer_command,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``rppg`` argument parser with every subcommand of :data:`SUBCOMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="rppg", description="rppg-suite: reproducible remote photoplethysmography"
    )
    parser.add_argument("--version", action="version", version=f"rppg {rppg_lib.__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_parser in SUBCOMMANDS:
        add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rppg`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as err:
        print(f"rppg {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE


def _one_line(err: BaseException) -> str:
    """The message of ``err`` on one line (an exception without text: its type name)."""
    text = " ".join(str(err).split())
    return text or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
