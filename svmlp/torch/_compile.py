"""A function through ``torch.compile``, falling back to itself when compiling fails."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["Compiled"]


class Compiled:
    """``fn`` compiled (dynamic shapes) on first use; should compiling fail (no C++ compiler, no
    triton, an unsupported operation), one warning naming ``what`` and ``fn`` itself from then on:
    the same values, only slower. Pickles as the uncompiled function (a DataLoader worker started
    by spawn, a checkpoint's args)."""

    def __init__(self, fn: Callable[..., Any], what: str, *, backend: Any = "inductor") -> None:
        self.fn, self.what, self.backend = fn, what, backend
        self.compiled: Callable[..., Any] | None = None
        self.failed = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.failed:
            try:
                if self.compiled is None:
                    self.compiled = torch.compile(self.fn, dynamic=True, backend=self.backend)
                    self._probe(args, kwargs)
                return self.compiled(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - any compiler failure: the plain function computes the same
                self.failed, self.compiled = True, None
                warnings.warn(
                    f"{self.what}: torch.compile failed ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
                    "going on without it",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return self.fn(*args, **kwargs)

    def _probe(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """A first call on copies, backward included where inputs need gradients: the backward
        graph compiles lazily, at ``loss.backward()``, where a failure could not fall back."""
        copies = [
            a.detach().clone().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor) else a
            for a in args
        ]
        out = self.compiled(*copies, **kwargs)  # type: ignore[misc]
        grads = [a for a in copies if isinstance(a, torch.Tensor) and a.requires_grad]
        outs = [o for o in (out if isinstance(out, tuple) else (out,)) if isinstance(o, torch.Tensor)]
        needed = [o.float().sum() for o in outs if o.requires_grad]
        if grads and needed:
            torch.autograd.grad(torch.stack(needed).sum(), grads, allow_unused=True)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "compiled": None}
