"""The ``svmlp`` command: parse, call the library, print. Bad input is one line and exit 2."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from svmlp._signals import Signals, Terminated

__all__ = ["build_parser", "main"]

_argv: list[str] | None = None  # the arguments main() was given (svmlp train passes them on whole)


#: the examples each verb's --help ends with (real invocations; the tests run --help for each)
EXAMPLES: dict[str, tuple[str, ...]] = {
    "convert": (
        "svmlp convert my-coco/ --to yolo -o my-yolo/",
        "svmlp convert cvat-export/ --to yolo -o my-yolo/ --images symlink",
        "svmlp convert data/ --to label-studio -o ls/ --audit report.json",
    ),
    "stats": (
        "svmlp stats my-yolo/",
        "svmlp stats data/ --json-out stats.json --parents car --children plate",
    ),
    "link": (
        "svmlp link my-yolo/ -o linked/",
        "svmlp link data/ -o linked/ --to coco --min-inside 0.6 --relink",
    ),
    "audit": (
        "svmlp audit data/ --html report.html",
        "svmlp audit data/ --split val --predictions preds.json --json-out report.json --fail-on warning",
    ),
    "view": ("svmlp view data/", "svmlp view data/ --audit report.json --predictions preds.json --split val"),
    "train": (
        "svmlp train data/ --epochs 100 --imgsz 640 --icr inverse --out runs/icr",
        "svmlp train my-yolo/ --engine ultralytics --model yolo12n.yaml --icr inverse --epochs 300",
        "svmlp train data/ --out runs/icr --resume",
    ),
    "predict": (
        "svmlp predict runs/icr/best.pt data/ --split test -o preds.json",
        "svmlp predict runs/exp/weights/best.pt my-yolo/ --split val -o preds.json --imgsz 640",
    ),
    "evaluate": (
        "svmlp evaluate data/ --predictions preds.json --split test",
        "svmlp evaluate data/ --predictions preds.json --split test --json-out metrics.json",
    ),
    "download": (
        "svmlp download --sample -o data/sample",
        "svmlp download --manifest URL -o data/ --mirror URL",
    ),
    "verify": ("svmlp verify data/sample", "svmlp verify data/ --full --json-out verify.json"),
    "manifest": (
        "svmlp manifest release/ --name svmlp --version 1.0 -o release/manifest.json",
        "svmlp manifest release/ --name svmlp --version 1.0 --base-url https://mirror.example.org/svmlp/1.0/",
    ),
}


class _Help(argparse.RawDescriptionHelpFormatter):
    """Help that names every option's default (where its text does not already) and keeps the
    examples' lines as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and default not in (None, False, argparse.SUPPRESS, [], ())
            and "default" not in text.lower()
            and "%(default)" not in text
        ):
            text += " (default: %(default)s)"
        return text


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _checked(kind: Any, ok: Any, rule: str) -> Any:
    """An argparse type: a bad value is refused under the flag's name (library errors name
    parameters)."""

    def parse(text: str) -> Any:
        with contextlib.suppress(ValueError):
            if ok(value := kind(text)):
                return value
        raise argparse.ArgumentTypeError(f"expected {rule}; got {text!r}")

    return parse


def _add_read_options(p: argparse.ArgumentParser) -> None:
    from svmlp._formatnames import FORMAT_MODULES

    p.add_argument(
        "--from", dest="from_", choices=list(FORMAT_MODULES), help="source format (detected when left out)"
    )
    p.add_argument(
        "--voc-origin",
        type=int,
        choices=(0, 1),
        default=None,
        help="VOC coordinates: 1 = devkit 1-based pixel indices, 0 = 0-based continuous "
        "(default: 1, unless the files show they are 0-based; a note says so)",
    )
    p.add_argument(
        "--with-chars",
        action="store_true",
        help="UFPR-ALPR/RodoSol sources: each plate character as a box of a third class, 'char'",
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
    if args.with_chars:
        if fmt != "ufpr":
            from svmlp.errors import UsageError

            raise UsageError(f"--with-chars applies to UFPR-ALPR/RodoSol sources, not {fmt}")
        opts["with_chars"] = True
    return opts


def _add_json(p: argparse.ArgumentParser, what: str) -> None:
    """The JSON options every verb shares: ``--json`` prints the machine-readable form on stdout
    instead of the text, ``--json-out PATH`` also writes it to a file."""
    p.add_argument("--json", action="store_true", help=f"print the {what} as JSON on stdout instead of text")
    p.add_argument("--json-out", type=Path, metavar="PATH", help=f"also write the {what} as JSON to PATH")


def _check_json_out(args: argparse.Namespace, read: Any) -> None:
    """Refuse a ``--json-out`` over, or inside, what the command read: before any work is done."""
    from svmlp._cli_reports import guard_report

    guard_report("--json-out", args.json_out, read)


def _json_out(args: argparse.Namespace, text: str) -> None:
    """Write ``--json-out``, when given (checked by :func:`_check_json_out` first)."""
    if args.json_out is None:
        return
    from svmlp._cli_reports import write_text

    write_text(args.json_out, text if text.endswith("\n") else text + "\n")


def _add_roles(p: argparse.ArgumentParser) -> None:
    for flag, what in (("--parents", "vehicle"), ("--children", "plate")):
        p.add_argument(
            flag, type=_csv, help=f"{what} classes, comma-separated (default: from the alias table)"
        )


def _add_convert(sub: Any) -> None:
    from svmlp._formatnames import IMAGE_MODES, writable

    p = sub.add_parser(
        "convert", help="convert annotations between formats (links, plate text and corners kept)"
    )
    p.add_argument("src", type=Path, help="source folder or annotation file")
    p.add_argument("--to", required=True, choices=writable(), help="target format")
    p.add_argument("-o", "--out", required=True, type=Path, help="output folder (created; must be empty)")
    _add_read_options(p)
    p.add_argument("--splits", type=_csv, help="only these splits, comma-separated (e.g. train,val)")
    p.add_argument(
        "--images",
        choices=IMAGE_MODES,
        default="copy",
        help="how image files reach the output (default: copy)",
    )
    p.add_argument(
        "--voc-layout",
        choices=("plain", "devkit"),
        default=None,
        help="--to voc: Annotations/, JPEGImages/, ImageSets/ at the top (plain, the default) "
        "or under VOCdevkit/VOC2007/ (devkit: what torchvision's VOCDetection opens)",
    )
    p.add_argument(
        "--audit",
        type=Path,
        metavar="REPORT.json",
        help="--to label-studio: an audit report's findings in the tasks, for the annotator "
        "(svmlp audit --json-out writes one)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    _add_json(p, "summary")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def _add_stats(sub: Any) -> None:
    p = sub.add_parser("stats", help="images and boxes per split and class")
    p.add_argument("src", type=Path, help="source folder or annotation file")
    _add_read_options(p)
    _add_roles(p)
    _add_json(p, "statistics")
    p.add_argument("-q", "--quiet", action="store_true", help="no notes; the table (or JSON) only")


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
    _add_json(p, "summary")
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
    _add_json(p, "report")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _add_link(sub: Any) -> None:
    from svmlp._formatnames import IMAGE_MODES, writable
    from svmlp._linkdefaults import MARGIN, MAX_PLATES, MIN_INSIDE

    p = sub.add_parser("link", help="link every plate to the vehicle it is mounted on")
    p.add_argument("src", type=Path, help="source folder or annotation file")
    p.add_argument("-o", "--out", required=True, type=Path, help="output folder (created; must be empty)")
    p.add_argument("--to", choices=writable(), help="output format (default: the source's)")
    _add_read_options(p)
    _add_roles(p)
    share = _checked(float, lambda v: 0 < v <= 1, "a share in (0, 1]")
    p.add_argument(
        "--min-inside",
        type=share,
        default=MIN_INSIDE,
        help=f"share of a plate inside a vehicle to link them ({MIN_INSIDE})",
    )
    plates = _checked(int, lambda v: v >= 1, "a whole number >= 1")
    p.add_argument(
        "--max-plates", type=plates, default=MAX_PLATES, help=f"plates one vehicle may carry ({MAX_PLATES})"
    )
    near = _checked(float, lambda v: 0 <= v <= 1, "a number in [0, 1]")
    p.add_argument("--margin", type=near, default=MARGIN, help=f"shares this close are near-equal ({MARGIN})")
    p.add_argument("--relink", action="store_true", help="replace the links the source already has")
    p.add_argument("--images", choices=IMAGE_MODES, default="copy", help="how image files reach the output")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    _add_json(p, "summary")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def _add_audit(sub: Any) -> None:
    p = sub.add_parser(
        "audit", help="find label noise: integrity, geometry, relations, leakage, model disagreement"
    )
    p.add_argument("src", type=Path, help="source folder or annotation file")
    _add_read_options(p)
    p.add_argument("--predictions", type=Path, help="a detector's predictions (COCO results format)")
    p.add_argument("--split", help="audit only this split")
    _add_roles(p)
    p.add_argument("--config", type=Path, help="a TOML file of thresholds, severities and checks")
    _add_json(p, "report")
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
    p.add_argument(
        "--audit", type=Path, metavar="REPORT.json", help="an audit report (svmlp audit --json-out)"
    )
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
    p.add_argument("-q", "--quiet", action="store_true", help="no notes")


def _add_train(sub: Any) -> None:
    from svmlp.train.harness import get_args_parser

    sub.add_parser(
        "train",
        parents=[get_args_parser(add_help=False)],
        help="train the reference detector, with or without the ICR loss",
        description="Train the reference detector (YOLO-family, pure torch), with or without ICR.",
    )
    p = sub.add_parser("predict", help="a checkpoint's predictions on a split, in the COCO results format")
    p.add_argument(
        "checkpoint",
        type=Path,
        help="best.pt or last.pt of a run (svmlp's, or ultralytics' with svmlp[ultralytics])",
    )
    p.add_argument("src", type=Path, help="data set folder or annotation file")
    p.add_argument("--split", default="test")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="PREDS.json")
    p.add_argument("--imgsz", type=int, help="input size (default: the run's)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--conf", type=float, default=0.001, help="keep predictions scoring above this")
    p.add_argument("--iou", type=float, default=0.6, help="NMS IoU threshold")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p = sub.add_parser("evaluate", help="COCO metrics (pycocotools) of predictions against a split")
    p.add_argument("src", type=Path, help="data set folder or annotation file")
    p.add_argument("--predictions", type=Path, required=True, help="COCO results file")
    p.add_argument("--split", help="the split the predictions are for")
    p.add_argument(
        "--json", action="store_true", help="print the metrics as JSON on stdout instead of the table"
    )
    p.add_argument("--json-out", type=Path, metavar="PATH", help="also write the metrics as JSON to PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="no notes")


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
        _add_manifest,
    ):
        add(sub)
    for name, command in sub.choices.items():
        command.formatter_class = _Help
        lines = EXAMPLES.get(name, ())
        if lines:
            command.epilog = "examples:\n" + "\n".join(f"  {line}" for line in lines)
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
    _check_json_out(args, ds.inputs)
    _print_notes(ds, args.quiet)
    options: dict[str, Any] = {}
    if args.voc_layout is not None:
        if args.to != "voc":
            from svmlp.errors import UsageError

            raise UsageError(f"--voc-layout applies to --to voc, not {args.to}")
        options["layout"] = args.voc_layout
    if args.audit is not None:
        if args.to != "label-studio":
            from svmlp.errors import UsageError

            raise UsageError(f"--audit applies to --to label-studio, not {args.to}")
        options["audit"] = args.audit
    report = write(
        ds,
        args.out,
        format=args.to,
        overwrite=args.overwrite,
        images=args.images,
        splits=args.splits,
        **options,
    )
    if args.json:
        print(report.to_json())
    elif not args.quiet:
        print("\n".join(report.lines()))
    _json_out(args, report.to_json())
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from svmlp.stats import compute_stats, format_stats

    ds = _load(args)
    _check_json_out(args, ds.inputs)
    _print_notes(ds, args.json or args.quiet)
    stats = compute_stats(ds, parents=args.parents, children=args.children)
    text = json.dumps(stats, indent=2)
    print(text if args.json else format_stats(stats))
    _json_out(args, text)
    return 0


def _cmd_link(args: argparse.Namespace) -> int:
    from svmlp.formats import detect, write
    from svmlp.links import link_plates

    fmt = args.from_ or detect(args.src)
    ds = _load(args)
    _check_json_out(args, ds.inputs)
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
    text = json.dumps({"links": summary, "write": json.loads(report.to_json())}, indent=2)
    _json_out(args, text)
    if args.json:
        print(text)
    elif not args.quiet:
        print(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in summary.items()))
        print("\n".join(report.lines()))
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from svmlp._cli_reports import guard_report, inputs_of, write_text
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
        parents=args.parents,
        children=args.children,
        **_read_options(args, fmt),
    )
    read = report.dataset.inputs | inputs_of(args.predictions, args.config)
    for flag, path in (("--json-out", args.json_out), ("--html", args.html)):
        guard_report(flag, path, read)
    if args.json:
        print(to_json(report))
    else:
        lines = summary_lines(report)
        print("\n".join(lines[:1] if args.quiet else lines))
    if args.json_out:
        write_text(args.json_out, to_json(report))
    if args.html:
        render_html(report, args.html)
    return report.exit_code(args.fail_on)


def _cmd_view(args: argparse.Namespace) -> int:
    from svmlp.fiftyone.app import view

    ds = _load(args)
    if args.split:
        ds = ds.split(args.split)
    _print_notes(ds, args.quiet)
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
    from svmlp.train.harness import parse

    argv = sys.argv[2:] if _argv is None else list(_argv[1:])
    if args.engine == "ultralytics":
        from svmlp.ultralytics.run import train_main as train_ultralytics

        options = parse(argv)
        return train_ultralytics(options, options.overrides)
    return train_main(argv)


def _cmd_predict(args: argparse.Namespace) -> int:
    from svmlp.ultralytics.run import is_ultralytics_checkpoint

    common: dict[str, Any] = {
        "split": args.split,
        "out": args.out,
        "imgsz": args.imgsz,
        "batch": args.batch,
        "conf": args.conf,
        "iou": args.iou,
        "device": args.device,
    }
    if is_ultralytics_checkpoint(args.checkpoint):  # a YOLO or RT-DETR run of --engine ultralytics
        from svmlp.ultralytics.run import predict_file as predict_ultralytics

        n = predict_ultralytics(args.checkpoint, args.src, **common)
    else:
        from svmlp._optional import require
        from svmlp.train.inference import predict_file

        require("torch", extra="train")
        n = predict_file(args.checkpoint, args.src, workers=args.workers, **common)
    if not args.quiet:
        print(f"{n} predictions for split {args.split} written to {args.out}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import svmlp
    from svmlp._cli_reports import guard_report, inputs_of, write_text
    from svmlp.train.coco_eval import evaluate_predictions

    ds = svmlp.read(args.src)
    guard_report("--json-out", args.json_out, ds.inputs | inputs_of(args.predictions))
    result = evaluate_predictions(ds, args.predictions, split=args.split)
    if not (args.quiet or args.json):
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
    text = json.dumps(result.to_dict(), indent=1)
    print(text if args.json else result.table())
    if args.json_out:
        write_text(args.json_out, text)
    return 0


def _add_manifest(sub: Any) -> None:
    p = sub.add_parser(
        "manifest",
        help="write the manifest of a folder of release files (for whoever hosts a mirror)",
        description="The manifest `svmlp download --manifest` reads: every file of FOLDER with its "
        "size and sha256, archives with their members.",
        epilog="example: svmlp manifest release/ --name svmlp --version 1.0 "
        "--base-url https://mirror.example.org/svmlp/1.0/ -o release/manifest.json",
    )
    p.add_argument("folder", type=Path, help="the folder holding the release files")
    p.add_argument("--name", required=True, help="release name (letters, digits, . _ -)")
    p.add_argument("--version", required=True, dest="release_version", help="release version")
    p.add_argument("--base-url", action="append", default=[], help="a mirror's base URL; repeatable")
    p.add_argument("--unpack-to", default=".", help="where files go under the destination (default: .)")
    p.add_argument("-o", "--out", type=Path, help="where to write the manifest (default: print it)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but the manifest")


def _cmd_manifest(args: argparse.Namespace) -> int:
    from svmlp._cli_reports import write_text
    from svmlp.release.authoring import build_manifest

    doc = build_manifest(
        args.folder,
        name=args.name,
        version=args.release_version,
        base_urls=args.base_url,
        unpack_to=args.unpack_to,
        skip=args.out.resolve() if args.out else None,
    )
    text = json.dumps(doc, indent=1) + "\n"
    if args.out:
        write_text(args.out, text)
        if not args.quiet:
            print(f"wrote {args.out}: {len(doc['files'])} file(s)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from svmlp.release.download import download
    from svmlp.release.manifest import default_manifest_url, load_manifest, sample_manifest_url

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
    _json_out(args, report.to_json())
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from svmlp.release.manifest import load_manifest
    from svmlp.release.verification import verify_release

    if not args.folder.is_dir():
        from svmlp.errors import UsageError

        raise UsageError(f"{args.folder}: no such folder")
    manifest = load_manifest(args.manifest, need_urls=False) if args.manifest else None
    progress = not args.quiet and not args.json and sys.stderr.isatty()
    from svmlp.model import Inputs

    _check_json_out(args, Inputs.of(trees=[args.folder]))  # a report inside the release would change it
    report = verify_release(args.folder, manifest=manifest, full=args.full, jobs=args.jobs, progress=progress)
    print(report.to_json() if args.json else "\n".join(report.lines()))
    _json_out(args, report.to_json())
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
    "manifest": _cmd_manifest,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 problems found, 2 bad input,
    3 a bug in svmlp, 130 interrupted by SIGINT, 143 by SIGTERM)."""
    stop = Signals(owner=argv is None)
    # named before the handler is installed: a Ctrl-C at any moment after says which command stopped
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    if words and words[0] in _COMMANDS:
        stop.prog = f"svmlp {words[0]}"
    try:
        stop.install()  # first, before anything slow is imported: a Ctrl-C is one line from here
        code = _run(argv, stop)
    except (KeyboardInterrupt, Terminated):
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


def _run(argv: Sequence[str] | None, stop: Signals) -> int:
    from svmlp.errors import SvmlpError

    global _argv
    _argv = None if argv is None else list(argv)
    given = list(sys.argv[1:] if argv is None else argv)
    # KEY=VALUE words are ultralytics' own: the harness takes them (the command was named in main())
    if stop.prog == "svmlp train":
        from svmlp.train.harness import split_overrides

        given = split_overrides(given)[0]
    args = build_parser().parse_args(given)
    stop.prog = f"svmlp {args.command}"
    from svmlp._progress import shown

    bars = sys.stderr.isatty() and not getattr(args, "quiet", False) and not getattr(args, "json", False)
    try:
        with shown(bars):  # progress bars on a terminal only, never with -q or --json
            return _COMMANDS[args.command](args)
    except (KeyboardInterrupt, Terminated):
        return stop.report()
    except Exception as exc:
        if (
            stop.signum is not None
        ):  # whatever failed on the way out (a lock released twice), a signal began it
            return stop.report()
        if isinstance(exc, SvmlpError):  # some say it in the command line's words (--from, not format=)
            print(f"svmlp {args.command}: error: {getattr(exc, 'cli_message', exc)}", file=sys.stderr)
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
