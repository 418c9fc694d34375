"""The ``svmlp`` command: parse, call the library, print. Bad input is one line and exit 2."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

__all__ = ["build_parser", "main"]

_argv: list[str] | None = None  # the arguments main() was given (svmlp train passes them on whole)


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _add_read_options(p: argparse.ArgumentParser) -> None:
    from svmlp.formats import FORMATS

    p.add_argument(
        "--from", dest="from_", choices=list(FORMATS), help="source format (detected when left out)"
    )
    p.add_argument(
        "--voc-origin",
        type=int,
        choices=(0, 1),
        default=None,
        help="VOC coordinates: 1 = devkit 1-based pixel indices (default), 0 = 0-based continuous",
    )
    p.add_argument(
        "--no-probe", action="store_true", help="do not read image headers (faster; sizes as stored)"
    )


def _read_options(args: argparse.Namespace, fmt: str) -> dict[str, Any]:
    """Keyword arguments for :func:`svmlp.formats.read` (each format's reader takes its own)."""
    opts: dict[str, Any] = {}
    if args.no_probe:
        opts["probe"] = False
    if args.voc_origin is not None:
        if fmt != "voc":
            from svmlp.errors import UsageError

            raise UsageError(f"--voc-origin applies to VOC sources, not {fmt}")
        opts["origin"] = args.voc_origin
    return opts


def _add_convert(sub: Any) -> None:
    from svmlp.formats import FORMATS, IMAGE_MODES

    p = sub.add_parser("convert", help="convert annotations between svmlp, COCO, YOLO and Pascal VOC")
    p.add_argument("src", type=Path, help="source folder or annotation file")
    p.add_argument("--to", required=True, choices=list(FORMATS), help="target format")
    p.add_argument("-o", "--out", required=True, type=Path, help="output folder (created; must be empty)")
    _add_read_options(p)
    p.add_argument("--splits", type=_csv, help="only these splits, comma-separated (e.g. train,val)")
    p.add_argument(
        "--images",
        choices=IMAGE_MODES,
        default="copy",
        help="how image files reach the output (default: copy)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def _add_stats(sub: Any) -> None:
    p = sub.add_parser("stats", help="images and boxes per split and class")
    p.add_argument("src", type=Path, help="source folder or annotation file")
    _add_read_options(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _add_download(sub: Any) -> None:
    p = sub.add_parser("download", help="fetch a release, check every byte, unpack it safely")
    p.add_argument("-o", "--out", required=True, type=Path, help="destination folder (created if missing)")
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--manifest", metavar="URL_OR_PATH", help="the release's manifest (http, https, file or a path)"
    )
    src.add_argument("--sample", action="store_true", help="the sample release embedded in the package")
    p.add_argument(
        "--mirror",
        action="append",
        default=[],
        metavar="URL",
        help="a base URL (or folder) holding the release's files, tried first; repeatable",
    )
    p.add_argument("--jobs", type=int, default=4, help="files fetched at once (default 4)")
    p.add_argument("--force", action="store_true", help="fetch again even what is already in place")
    p.add_argument("--keep-archives", action="store_true", help="keep archives after unpacking them")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars, nothing printed on success")


def _add_verify(sub: Any) -> None:
    p = sub.add_parser("verify", help="check that a folder holds exactly its release")
    p.add_argument("folder", type=Path, help="a folder made by svmlp download")
    p.add_argument("--full", action="store_true", help="also hash every file and decode every image")
    p.add_argument(
        "--manifest", metavar="URL_OR_PATH", help="check against this manifest instead of the stored one"
    )
    p.add_argument(
        "--fail-on", choices=("error", "warning"), default="error", help="exit 1 from this severity up"
    )
    p.add_argument("--jobs", type=int, default=4, help="files hashed at once with --full (default 4)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _add_link(sub: Any) -> None:
    from svmlp.formats import FORMATS, IMAGE_MODES

    p = sub.add_parser("link", help="link every plate to the vehicle it is mounted on")
    p.add_argument("src", type=Path, help="source folder or annotation file")
    p.add_argument("-o", "--out", required=True, type=Path, help="output folder (created; must be empty)")
    p.add_argument("--to", choices=list(FORMATS), help="output format (default: the source's)")
    _add_read_options(p)
    p.add_argument(
        "--parents", type=_csv, help="vehicle classes, comma-separated (default: from the alias table)"
    )
    p.add_argument(
        "--children", type=_csv, help="plate classes, comma-separated (default: from the alias table)"
    )
    p.add_argument(
        "--min-inside", type=float, default=0.5, help="share of a plate inside a vehicle to link them"
    )
    p.add_argument("--max-plates", type=int, default=2, help="plates one vehicle may carry (default 2)")
    p.add_argument(
        "--margin", type=float, default=0.1, help="shares this close are near-equal candidates (0.1)"
    )
    p.add_argument("--relink", action="store_true", help="replace the links the source already has")
    p.add_argument("--images", choices=IMAGE_MODES, default="copy", help="how image files reach the output")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def _add_audit(sub: Any) -> None:
    p = sub.add_parser(
        "audit", help="find label noise: integrity, geometry, relations, leakage, model disagreement"
    )
    p.add_argument("src", type=Path, help="source folder or annotation file")
    _add_read_options(p)
    p.add_argument("--predictions", type=Path, help="a detector's predictions (COCO results format)")
    p.add_argument("--split", help="audit only this split")
    p.add_argument("--config", type=Path, help="a TOML file of thresholds, severities and checks")
    p.add_argument(
        "--json", dest="json_out", type=Path, metavar="REPORT.json", help="write the report as JSON"
    )
    p.add_argument("--html", type=Path, metavar="REPORT.html", help="write a self-contained HTML report")
    p.add_argument(
        "--fail-on",
        choices=("error", "warning", "info"),
        default="error",
        help="exit 1 from this severity up",
    )
    p.add_argument(
        "--no-images", action="store_true", help="do not read the image files (faster; fewer checks)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary line")


def _add_view(sub: Any) -> None:
    p = sub.add_parser("view", help="look at the data, its links and an audit's findings in FiftyOne")
    p.add_argument("src", type=Path, help="source folder or annotation file")
    _add_read_options(p)
    p.add_argument("--split", help="only this split")
    p.add_argument("--audit", type=Path, metavar="REPORT.json", help="an audit report (svmlp audit --json)")
    p.add_argument(
        "--predictions", type=Path, help="a detector's predictions (COCO results format), evaluated"
    )
    p.add_argument("--name", help="the FiftyOne data set's name (default: svmlp-<folder>; replaced)")
    p.add_argument("--port", type=int, default=5151, help="the App's port (default 5151)")
    p.add_argument("--address", help="the address to serve on (default: localhost)")
    p.add_argument(
        "--remote", action="store_true", help="serve the App for a browser elsewhere; open none here"
    )
    p.add_argument("--keep", action="store_true", help="keep the FiftyOne data set after the App stops")


def _add_train(sub: Any) -> None:
    from svmlp.train.harness import get_args_parser

    sub.add_parser(
        "train",
        parents=[get_args_parser(add_help=False)],
        help="train the reference detector, with or without the ICR loss",
        description="Train the reference detector (YOLO-family, pure torch), with or without ICR.",
    )
    p = sub.add_parser("predict", help="a checkpoint's predictions on a split, in the COCO results format")
    p.add_argument("checkpoint", type=Path, help="best.pt or last.pt of a run")
    p.add_argument("src", type=Path, help="data set folder or annotation file")
    p.add_argument("--split", default="test")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="PREDS.json")
    p.add_argument("--imgsz", type=int, help="input size (default: the run's)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--conf", type=float, default=0.001, help="keep predictions scoring above this")
    p.add_argument("--iou", type=float, default=0.6, help="NMS IoU threshold")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=2)
    p = sub.add_parser("evaluate", help="COCO metrics (pycocotools) of predictions against a split")
    p.add_argument("src", type=Path, help="data set folder or annotation file")
    p.add_argument("--predictions", type=Path, required=True, help="COCO results file")
    p.add_argument("--split", help="the split the predictions are for")
    p.add_argument(
        "--json", dest="json_out", type=Path, metavar="METRICS.json", help="write the metrics as JSON"
    )


def build_parser() -> argparse.ArgumentParser:
    from svmlp import __version__

    parser = argparse.ArgumentParser(
        prog="svmlp", description="Get, trust and train on the SVMLP licence-plate data set."
    )
    parser.add_argument("--version", action="version", version=f"svmlp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_convert,
        _add_stats,
        _add_link,
        _add_audit,
        _add_view,
        _add_train,
        _add_download,
        _add_verify,
    ):
        add(sub)
    return parser


def _load(args: argparse.Namespace):  # noqa: ANN202
    from svmlp.formats import detect, read

    fmt = args.from_ or detect(args.src)
    return read(args.src, format=fmt, **_read_options(args, fmt))


def _print_notes(ds, quiet: bool = False) -> None:  # noqa: ANN001
    if not quiet:
        for note in ds.notes:
            print(f"note: {note}", file=sys.stderr)


def _cmd_convert(args: argparse.Namespace) -> int:
    from svmlp.formats import write

    ds = _load(args)
    _print_notes(ds, args.quiet)
    report = write(
        ds, args.out, format=args.to, overwrite=args.overwrite, images=args.images, splits=args.splits
    )
    if args.json:
        print(report.to_json())
    elif not args.quiet:
        print("\n".join(report.lines()))
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from svmlp.stats import compute_stats, format_stats

    ds = _load(args)
    _print_notes(ds, args.json)
    stats = compute_stats(ds)
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def _cmd_link(args: argparse.Namespace) -> int:
    from svmlp.formats import detect, write
    from svmlp.links import link_plates

    fmt = args.from_ or detect(args.src)
    ds = _load(args)
    _print_notes(ds, args.quiet)
    result = link_plates(
        ds,
        parents=args.parents,
        children=args.children,
        min_inside=args.min_inside,
        max_plates=args.max_plates,
        margin=args.margin,
        relink=args.relink,
    )
    report = write(
        result.dataset, args.out, format=args.to or fmt, overwrite=args.overwrite, images=args.images
    )
    summary = result.summary()
    if args.json:
        print(json.dumps({"links": summary, "write": json.loads(report.to_json())}, indent=2))
    elif not args.quiet:
        print(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in summary.items()))
        print("\n".join(report.lines()))
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from svmlp.audit import audit
    from svmlp.audit.report import render_html, summary_lines, to_json
    from svmlp.formats import detect

    fmt = args.from_ or detect(args.src)
    report = audit(
        args.src,
        format=fmt,
        config=args.config,
        predictions=args.predictions,
        split=args.split,
        scan=not args.no_images,
        **_read_options(args, fmt),
    )
    read = report.dataset.inputs | _inputs_of(args.predictions, args.config)
    for flag, path in (("--json", args.json_out), ("--html", args.html)):
        _guard_report(flag, path, read)
    lines = summary_lines(report)
    print("\n".join(lines[:1] if args.quiet else lines))
    if args.json_out:
        _write_text(args.json_out, to_json(report))
    if args.html:
        render_html(report, args.html)
    return report.exit_code(args.fail_on)


def _cmd_view(args: argparse.Namespace) -> int:
    from svmlp.fiftyone.app import view

    ds = _load(args)
    if args.split:
        ds = ds.split(args.split)
    _print_notes(ds)
    return view(
        ds,
        audit=args.audit,
        predictions=args.predictions,
        name=args.name,
        port=args.port,
        address=args.address,
        remote=args.remote,
        keep=args.keep,
        say=lambda line: print(line, flush=True),
    )


def _cmd_train(args: argparse.Namespace) -> int:
    from svmlp.train.harness import main as train_main

    return train_main(sys.argv[2:] if _argv is None else list(_argv[1:]))


def _cmd_predict(args: argparse.Namespace) -> int:
    from svmlp.train.inference import predict_file

    n = predict_file(
        args.checkpoint,
        args.src,
        split=args.split,
        out=args.out,
        imgsz=args.imgsz,
        batch=args.batch,
        conf=args.conf,
        iou=args.iou,
        device=args.device,
        workers=args.workers,
    )
    print(f"{n} predictions for split {args.split} written to {args.out}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import svmlp
    from svmlp.train.coco_eval import evaluate_predictions

    ds = svmlp.read(args.src)
    _guard_report("--json", args.json_out, ds.inputs | _inputs_of(args.predictions))
    result = evaluate_predictions(ds, args.predictions, split=args.split)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(result.table())
    if args.json_out:
        _write_text(args.json_out, json.dumps(result.to_dict(), indent=1))
    return 0


def _write_text(path: Path, text: str) -> None:
    """Whole or not at all: a temporary file beside it, renamed (removed if anything fails)."""
    from svmlp._files import write_atomic

    write_atomic(path, text.encode("utf-8"))


def _inputs_of(*files: Path | None):  # noqa: ANN202
    from svmlp.model import Inputs

    return Inputs.of(files=[f for f in files if f is not None])


def _guard_report(flag: str, path: Path | None, read: Any) -> None:
    """A report may not replace, or land inside, anything the command read."""
    if path is None:
        return
    from svmlp.errors import UsageError

    conflict = read.report_conflict(path)
    if conflict is not None:
        raise UsageError(
            f"{flag} {path}: {conflict}; write it outside the data set (svmlp never writes into what it reads)"
        )


def _cmd_download(args: argparse.Namespace) -> int:
    from svmlp.download import download
    from svmlp.manifest import default_manifest_url, load_manifest, sample_manifest_url

    if args.manifest:
        url = args.manifest
    elif args.sample:
        url = sample_manifest_url()
    else:
        url = default_manifest_url()  # says in one line why there is none yet
    manifest = load_manifest(url).with_mirrors(args.mirror)
    report = download(
        manifest,
        args.out,
        jobs=args.jobs,
        force=args.force,
        quiet=args.quiet,
        keep_archives=args.keep_archives,
    )
    if args.json:
        print(report.to_json())
    elif not args.quiet:
        print("\n".join(report.lines()))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from svmlp.manifest import load_manifest
    from svmlp.verify import verify_release

    if not args.folder.is_dir():
        from svmlp.errors import UsageError

        raise UsageError(f"{args.folder}: no such folder")
    manifest = load_manifest(args.manifest, need_urls=False) if args.manifest else None
    progress = not args.quiet and not args.json and sys.stderr.isatty()
    report = verify_release(args.folder, manifest=manifest, full=args.full, jobs=args.jobs, progress=progress)
    print(report.to_json() if args.json else "\n".join(report.lines()))
    return report.exit_code(args.fail_on)


_COMMANDS = {
    "convert": _cmd_convert,
    "stats": _cmd_stats,
    "link": _cmd_link,
    "audit": _cmd_audit,
    "view": _cmd_view,
    "train": _cmd_train,
    "predict": _cmd_predict,
    "evaluate": _cmd_evaluate,
    "download": _cmd_download,
    "verify": _cmd_verify,
}


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread as SIGINT raises KeyboardInterrupt: every ``finally`` and
    ``except BaseException`` on the way out runs (the output's temporary folder is removed)."""


#: Exit code and word for the signals a run stops on (128 + the signal's number, as shells do).
_STOPS = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated")}
_RETRY_S = 0.01  # how soon a stop that had to wait for a safe moment looks again
_GIVE_UP_S = 2.0  # a stop that finds no safe moment in this long ends the process as it is
_CLEANUP_S = 10.0  # and one whose cleanup still waits for a thread (stuck on a dead mount) after this
_EXIT_GRACE_S = 3.0  # after a stop, how long the interpreter's exit may wait for threads

_STDLIB = os.path.dirname(contextlib.__file__)
_FUTURES = os.path.join(_STDLIB, "concurrent", "futures") + os.sep
_THREADING = threading.__file__
#: Code an exception from a signal handler must not cut through. Between a lock's acquire and the
#: ``with`` or ``try`` that releases it (threading's Condition.__enter__, ThreadPoolExecutor.submit,
#: the import lock) it would leave the lock held, and the worker threads, which the cleanup then
#: waits for, block on it forever; in contextlib's ``__enter__``/``__exit__`` it would skip the
#: cleanup of a context manager (the output's temporary folder and lock); in an extension module's
#: import it comes out as a confusing ImportError.
_UNSAFE_CODE = (
    *(os.path.join(_STDLIB, n) for n in ("threading.py", "contextlib.py", "queue.py", "weakref.py")),
    *(os.path.join(_STDLIB, n) for n in ("_weakrefset.py", "logging" + os.sep)),
    _FUTURES,
    "<frozen importlib.",
)
#: Functions of that code an exception may unwind through: all they hold is released by a ``with``
#: or ``finally`` of their own (waiting for futures, events, queues and threads)
_THROUGH = {
    *((os.path.join(_FUTURES, "_base.py"), n) for n in ("result", "result_iterator", "_result_or_cancel")),
    *((os.path.join(_FUTURES, "_base.py"), n) for n in ("wait", "as_completed")),
    (os.path.join(_FUTURES, "thread.py"), "shutdown"),
    (_THREADING, "wait"),  # Event.wait (Condition.wait is innermost, checked by line)
    (_THREADING, "join"),
    *((os.path.join(_STDLIB, "queue.py"), n) for n in ("get", "put")),
}
#: Where the main thread blocks inside that code, the lines of the ``try`` whose ``finally`` or
#: ``except`` puts the lock right (found in the source: they differ between Python versions)
_BLOCKING = tuple(
    f.__code__
    for f in (threading.Condition.wait, getattr(threading.Thread, "_wait_for_tstate_lock", None))
    if f is not None  # Thread.join waits in C from Python 3.13
)
_try_lines: dict[CodeType, frozenset[int]] = {}


def _lines_in_try(code: CodeType) -> frozenset[int]:
    found = _try_lines.get(code)
    if found is not None:
        return found
    try:  # read plainly, from inside a signal handler: no import, no lock
        with open(code.co_filename, encoding="utf-8") as fh:
            source = fh.read().splitlines()
    except OSError:  # no source (a zipped standard library): never safe, so the stop waits
        source = []
    lines: set[int] = set()
    inside = False
    for number in range(code.co_firstlineno, min(len(source), code.co_firstlineno + 200) + 1):
        text = source[number - 1].strip()
        if text.startswith(("finally:", "except")) or (
            number > code.co_firstlineno and text.startswith("def ")
        ):
            break
        if inside:
            lines.add(number)
        inside = inside or text.startswith("try:")
    _try_lines[code] = found = frozenset(lines)
    return found


def _safe_to_raise(frame: FrameType | None) -> bool:
    """Whether an exception raised in ``frame`` unwinds cleanly (see :data:`_UNSAFE_CODE`)."""
    if frame is None:
        return False
    innermost = True
    while frame is not None:
        code = frame.f_code
        unsafe = (
            code.co_filename.startswith(_UNSAFE_CODE) and (code.co_filename, code.co_name) not in _THROUGH
        )
        if unsafe and not (innermost and code in _BLOCKING and frame.f_lineno in _lines_in_try(code)):
            return False
        innermost = False
        frame = frame.f_back
    return True


def _exit_later(code: int) -> None:
    """End the process with ``code`` in :data:`_EXIT_GRACE_S` if the interpreter's exit is still
    waiting then (a non-daemon thread that does not end)."""

    def watch() -> None:
        time.sleep(_EXIT_GRACE_S)
        os._exit(code)

    threading.Thread(target=watch, name="svmlp-exit-watch", daemon=True).start()


class _Signals:
    """SIGINT and SIGTERM during one :func:`main` call.

    The first signal raises KeyboardInterrupt or :class:`_Terminated` in the main thread, at once
    or, if the main thread is inside code that must not be cut (:data:`_UNSAFE_CODE`), at the
    first safe moment (looked for every few milliseconds with SIGALRM). The run then unwinds,
    cleans up and says so in one line. In a process that :func:`main` owns (no ``argv`` given: the
    console script, ``python -m svmlp``) a second signal while stopping, a stop that finds no safe
    moment or whose cleanup waits for a thread for seconds, or a signal once the command is over
    ends the process at once, so that nothing waits on a stuck thread; what that leaves
    beside an output folder, the next run to it removes. Called with ``argv`` (tests, scripts),
    the caller's handlers come back at the end.
    """

    def __init__(self, *, owner: bool) -> None:
        self.owner = owner
        self.prog = "svmlp"
        self.signum: int | None = None  # the first signal that arrived
        self.pending: type[BaseException] | None = None  # to raise at the next safe moment
        self.give_up_at = 0.0
        self.raised = False
        self.reported = False
        self.exit_code: int | None = None  # set when the command is over: a signal then exits with it
        self.previous: dict[int, Any] = {}
        self.can_retry = False

    def install(self) -> None:
        for signum in _STOPS:
            try:
                previous = signal.getsignal(signum)
                if previous == signal.SIG_IGN:  # started ignored (nohup, `cmd &`): the user wants it so
                    continue
                signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: signals are the caller's business
                return
            self.previous[signum] = signal.SIG_DFL if previous is None else previous
        alarm = getattr(signal, "SIGALRM", None)
        if alarm is not None and hasattr(signal, "setitimer") and signal.getsignal(alarm) == signal.SIG_DFL:
            signal.signal(alarm, self._retry)
            self.previous[alarm] = signal.SIG_DFL
            self.can_retry = True

    def restore(self) -> None:
        self._cancel_retry()
        for signum, previous in self.previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, previous)
        self.previous.clear()

    def outcome(self) -> tuple[int, str]:
        # a KeyboardInterrupt raised by code rather than by a signal counts as Ctrl-C
        return _STOPS.get(
            signal.Signals(self.signum) if self.signum else signal.SIGINT, _STOPS[signal.SIGINT]
        )

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        if self.exit_code is not None:  # the command is over and has printed: just go
            os._exit(self.exit_code)
        if self.raised or self.pending is not None:  # asked again while stopping
            if self.owner:  # stop now, even mid-cleanup
                self._exit_now()
            if self.raised:
                raise KeyboardInterrupt if signum == signal.SIGINT else _Terminated
            return
        self.pending = KeyboardInterrupt if signum == signal.SIGINT else _Terminated
        self.give_up_at = time.monotonic() + _GIVE_UP_S
        self._raise_when_safe(frame)

    def _retry(self, signum: int, frame: FrameType | None) -> None:
        if self.exit_code is not None:
            return
        if self.pending is not None:
            self._raise_when_safe(frame)
        elif self.raised and self.owner:  # raised, and the cleanup has not ended in _CLEANUP_S:
            if len(sys._current_frames()) > 1:  # waiting for a thread that may never end (no
                self._exit_now()  # threading.enumerate() here: its lock may be the one cut)
            signal.setitimer(signal.ITIMER_REAL, _CLEANUP_S)  # busy removing files itself: let it

    def _raise_when_safe(self, frame: FrameType | None) -> None:
        late = time.monotonic() > self.give_up_at
        if _safe_to_raise(frame) or not self.can_retry or (late and not self.owner):
            pending, self.pending = self.pending, None
            self.raised = True
            if self.owner and self.can_retry:
                signal.setitimer(signal.ITIMER_REAL, _CLEANUP_S)
            if pending is not None:
                raise pending
        if late:
            self._exit_now()
        signal.setitimer(signal.ITIMER_REAL, _RETRY_S)

    def _cancel_retry(self) -> None:
        self.pending = None
        if self.can_retry:
            with contextlib.suppress(ValueError, OSError):
                signal.setitimer(signal.ITIMER_REAL, 0)

    def _exit_now(self) -> None:
        """Report and end the process, from inside a handler (sys.stderr may be mid-write)."""
        code, word = self.outcome()
        if not self.reported:
            self.reported = True
            with contextlib.suppress(OSError):
                os.write(2, f"{self.prog}: {word}\n".encode())
        os._exit(code)

    def report(self) -> int:
        """Print the one line for a stop; returns the exit code."""
        code, word = self.outcome()
        if not self.reported:
            self.reported = True
            with contextlib.suppress(OSError, ValueError):
                print(f"{self.prog}: {word}", file=sys.stderr, flush=True)
        return code

    def done(self, code: int) -> int:
        """The command is over, with ``code``: its own (``svmlp view`` stops on Ctrl-C with 0), the
        stop's, or its own when a signal came too late to stop it."""
        if self.owner:
            self.exit_code = code  # first: a signal from here on ends the process with it
        self._cancel_retry()
        if not self.owner:
            self.restore()
            return code
        _flush_output()
        if not _threads_left():
            # nothing can hold the exit up: ignore signals from here, as the interpreter's
            # shutdown resets handlers and a late one would kill it with no exit code of ours
            for signum in _STOPS:
                if signum in self.previous:
                    signal.signal(signum, signal.SIG_IGN)
        elif self.signum is not None:
            _exit_later(code)  # the interpreter's exit joins threads, which may never end
        return code


def _flush_output() -> None:
    """Flush stdout and stderr now; a reader that went away (``| head``) is not an error, and the
    interpreter's own flush at exit must not report it either."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):
            pass


def _threads_left() -> bool:
    """Whether a non-daemon thread is still running (the interpreter's exit would wait for it)."""
    main_thread = threading.main_thread()
    return any(t is not main_thread and t.is_alive() and not t.daemon for t in threading.enumerate())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 problems found, 2 bad input,
    3 a bug in svmlp, 130 interrupted by SIGINT, 143 by SIGTERM)."""
    stop = _Signals(owner=argv is None)
    try:
        stop.install()  # first, before anything slow is imported: a Ctrl-C is one line from here
        code = _run(argv, stop)
    except (KeyboardInterrupt, _Terminated):
        code = stop.report()
    except Exception:
        if stop.signum is None:
            stop.restore()
            raise
        code = stop.report()  # whatever broke on the way out (an import cut short), a signal began it
    except BaseException:  # SystemExit: --help, --version, bad arguments
        stop.restore()
        raise
    return stop.done(code)


def _run(argv: Sequence[str] | None, stop: _Signals) -> int:
    from svmlp.errors import SvmlpError

    global _argv
    _argv = None if argv is None else list(argv)
    # named before parsing, which imports the formats: a Ctrl-C in there says which command stopped
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    if words and words[0] in _COMMANDS:
        stop.prog = f"svmlp {words[0]}"
    args = build_parser().parse_args(argv)
    stop.prog = f"svmlp {args.command}"
    try:
        return _COMMANDS[args.command](args)
    except (KeyboardInterrupt, _Terminated):
        return stop.report()
    except Exception as exc:
        if (
            stop.signum is not None
        ):  # whatever failed on the way out (a lock released twice), a signal began it
            return stop.report()
        if isinstance(exc, SvmlpError):
            print(f"svmlp {args.command}: error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, BrokenPipeError):  # the reader went away (`| head`): not an error
            return 0
        if isinstance(exc, OSError):  # the file system refused: a path the user gave, a full disk
            print(f"svmlp {args.command}: error: {exc}", file=sys.stderr)
            return 2
        if os.environ.get("SVMLP_DEBUG"):
            raise
        # a bug in svmlp, not bad input: one line, a distinct code, a way to see more
        print(
            f"svmlp {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(a bug in svmlp; rerun with SVMLP_DEBUG=1 for the traceback and please report it)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
