"""The YAML and names files of a YOLO data set: ``data.yaml`` (aliases bounded, ``names`` as a
list or a mapping) and plain names files (``obj.names``, ``classes.txt``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from svmlp.errors import AnnotationError, where
from svmlp.formats._layout import CONFIG_LIMIT, read_text

__all__ = ["MAX_YAML_NODES", "load_yaml", "names_from_yaml", "read_names", "read_yaml"]


#: the most YAML nodes a config may hold once its aliases are expanded (a 372-byte "billion
#: laughs" file expands to billions; a real data.yaml, even with 20 000 classes, to thousands)
MAX_YAML_NODES = 1_000_000
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes ``node`` stands for with every alias expanded (each shared node counted once
    per use, computed once)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = MAX_YAML_NODES + 1  # a node that refers to itself never finishes expanding
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[key] = min(size, MAX_YAML_NODES + 1)
    return memo[key]


def load_yaml(path: Path) -> Any:
    """A YAML file (safe types only), with its aliases bounded: the node graph is composed first
    and measured before any Python object is built from it."""
    text = read_text(path, limit=CONFIG_LIMIT, what="YAML file")
    loader = _YAML_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_YAML_NODES:
            raise AnnotationError(
                f"{path}: expands to more than {MAX_YAML_NODES} values through its aliases (&/*); "
                "a data.yaml needs no such thing (a YAML bomb?)"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise AnnotationError(
            f"{where(path, line)}: malformed YAML ({getattr(exc, 'problem', None) or exc})"
        ) from None
    except RecursionError:
        raise AnnotationError(f"{path}: YAML nested too deeply (or referring to itself)") from None
    except ValueError as exc:  # an integer past Python's 4300-digit conversion limit
        raise AnnotationError(f"{path}: {str(exc)[:200]}") from None
    finally:
        loader.dispose()


def read_yaml(path: Path) -> dict[str, Any]:
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise AnnotationError(
            f"{path}: expected a mapping with 'names' and split paths, found {type(data).__name__}"
        )
    return data


def _class_name(path: Path, value: Any, at: str) -> str:
    """A class name from the YAML: text or a number, nothing else (a list there is an error, not
    its printed form)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise AnnotationError(f"{path}: names[{at}] is a {type(value).__name__}; a class name must be text")


def _digits(text: str) -> int | None:
    return int(text) if text.isdigit() and text.isascii() and len(text) < 20 else None


def names_from_yaml(path: Path, data: dict[str, Any]) -> list[str]:
    names = data.get("names")
    if isinstance(names, dict):
        by_index: dict[int, Any] = {}
        for k, v in names.items():  # 0 or "0", never "00" or 0.5
            if isinstance(k, bool) or not (
                isinstance(k, int) or (isinstance(k, str) and k == str(_digits(k)))
            ):
                raise AnnotationError(
                    f"{path}: 'names' keys must be class indices 0, 1, ..., found {str(k)[:40]!r}"
                )
            if int(k) in by_index:
                raise AnnotationError(f"{path}: 'names' has class index {k} twice")
            by_index[int(k)] = v
        names = by_index
        keys = sorted(names)
        if keys != list(range(len(keys))):
            shown = keys if len(keys) <= 20 else [*keys[:20], "..."]
            raise AnnotationError(
                f"{path}: 'names' keys must be 0..{len(keys) - 1} without gaps, found {shown}"
            )
        out = [_class_name(path, names[k], str(k)) for k in keys]
    elif isinstance(names, list):
        out = [_class_name(path, n, str(k)) for k, n in enumerate(names)]
    else:
        raise AnnotationError(f"{path}: 'names' must be a list or a mapping of class index to name")
    nc = data.get("nc")
    if nc is not None and (not isinstance(nc, int) or nc != len(out)):
        raise AnnotationError(f"{path}: nc is {str(nc)[:40]} but 'names' has {len(out)} entries")
    return out


def read_names(path: Path) -> list[str]:
    """A names file: one class name a line, blank lines skipped (darknet's ``obj.names``, the
    ``classes.txt`` of LabelImg, Label Studio and CVAT)."""
    return [
        n.strip() for n in read_text(path, limit=CONFIG_LIMIT, what="names file").splitlines() if n.strip()
    ]
