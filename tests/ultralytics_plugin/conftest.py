"""The ultralytics plug-in's tests run in their own venv (.venv-ultralytics: torch 2.14.1 with
torchvision, ultralytics from the registry; `make test` builds it). ultralytics is configured
offline before its first import, and every test fails if anything tries to reach the network."""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# before ultralytics is imported anywhere: its settings and fonts in a folder of this session
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="svmlp-ultralytics-"))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _loopback(host: Any) -> bool:
    if host is None:
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    if text in _LOOPBACK_NAMES or text == "":
        return True
    try:
        return ipaddress.ip_address(text.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record, and refuse, every attempt to reach a host that is not this machine."""
    tried: list[str] = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host):
            tried.append(f"getaddrinfo {host}")
            raise socket.gaierror(socket.EAI_NONAME, f"test: no network ({host})")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            tried.append(f"connect {address}")
            raise OSError(f"test: no network ({address})")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            tried.append(f"connect_ex {address}")
            return 111
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield tried
    assert not tried, f"something tried to reach the network: {tried[:5]}"


@pytest.fixture(scope="session", autouse=True)
def plugin_in_use() -> None:
    """What using the plug-in does first: ultralytics checked and set up offline (fonts included)."""
    from svmlp.ultralytics._compat import require

    require()


@pytest.fixture(scope="session")
def sample_yolo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded sample as svmlp writes it for ultralytics (data.yaml, links in the sidecar)."""
    import svmlp
    from svmlp.release.sample import unpack_sample

    src = unpack_sample(tmp_path_factory.mktemp("sample") / "release")
    out = tmp_path_factory.mktemp("sample-yolo") / "yolo"
    svmlp.write(svmlp.read(src), out, format="yolo")
    return out
