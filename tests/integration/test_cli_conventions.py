"""The command line's conventions, for every verb: --help names the defaults and ends with real
examples; --json prints JSON on stdout, --json-out PATH writes it; -q is accepted everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from svmlp.cli import _COMMANDS, EXAMPLES, build_parser, main


def _help(capsys: pytest.CaptureFixture[str], verb: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([verb, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("verb", sorted(_COMMANDS))
def test_help_ends_with_examples_and_names_defaults(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, verb)
    examples = text.split("examples:\n", 1)[1].splitlines()
    assert 2 <= len(EXAMPLES[verb]) <= 3 and all(e.strip().startswith(f"svmlp {verb} ") for e in examples)
    parser = build_parser()._subparsers._group_actions[0].choices[verb]  # type: ignore[union-attr]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.dest == "help" or action.default in (None, False, [], ()):
            continue
        shown = formatter._get_help_string(action) or ""
        assert "default" in shown.lower(), f"{verb} {action.option_strings[-1]}: its default is not shown"
        assert " ".join((action.help or "").split()[:3]) in " ".join(text.split()), verb


@pytest.mark.parametrize("verb", sorted(_COMMANDS))
def test_every_verb_takes_quiet(verb: str) -> None:
    parser = build_parser()._subparsers._group_actions[0].choices[verb]  # type: ignore[union-attr]
    assert any("-q" in a.option_strings for a in parser._actions), verb


def test_json_and_json_out_mean_the_same_everywhere(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = {
        "stats": ["stats", str(sample_dir), "--no-probe"],
        "convert": [
            "convert",
            str(sample_dir),
            "--to",
            "coco",
            "-o",
            str(tmp_path / "c"),
            "--images",
            "none",
        ],
        "link": ["link", str(sample_dir), "-o", str(tmp_path / "l"), "--images", "none"],
        "audit": ["audit", str(sample_dir), "--no-probe", "--no-images"],
        "verify": ["verify", str(sample_dir)],
    }
    for verb, argv in runs.items():
        capsys.readouterr()
        out = tmp_path / f"{verb}.json"
        code = main([*argv, "--json", "--json-out", str(out)])
        assert code in (0, 1), verb
        printed = json.loads(capsys.readouterr().out)
        assert json.loads(out.read_text()) == printed, verb
        for p in (tmp_path / "c", tmp_path / "l"):
            if p.exists() and verb in ("convert", "link"):
                import shutil

                shutil.rmtree(p)
    # a report never lands on what the verb read, and is refused before any work is done
    assert main(["stats", str(sample_dir), "--json-out", str(sample_dir / "annotations" / "x.json")]) == 2
    assert main(["verify", str(sample_dir), "--json-out", str(sample_dir / "v.json")]) == 2
    out = tmp_path / "refused"
    assert (
        main(
            [
                "convert",
                str(sample_dir),
                "--to",
                "coco",
                "-o",
                str(out),
                "--json-out",
                str(sample_dir / "c.json"),
            ]
        )
        == 2
    )
    assert not out.exists() and not (sample_dir / "v.json").exists() and not (sample_dir / "c.json").exists()
