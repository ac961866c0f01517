"""Write-then-rename: a killed job never leaves a file that looks complete."""

from __future__ import annotations

import contextlib
import os


def tmp_name(path: str) -> str:
    d, b = os.path.split(os.path.abspath(path))
    root, ext = os.path.splitext(b)
    # keep the extension last so tools that sniff it (matplotlib, pandas) still work
    return os.path.join(d, f".{root}.tmp{os.getpid()}{ext}")


@contextlib.contextmanager
def atomic_path(path: str):
    """Yield a temporary path next to ``path``; rename it over ``path`` on success,
    delete it on any error (the final path is never touched on failure)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    tmp = tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_text(path: str, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
