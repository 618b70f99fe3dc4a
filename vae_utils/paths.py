"""Where the project's files live, and safe ways to write them.

Every write goes through ``atomic_path``: an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

__all__ = ["MAIN_RUN_DIR", "PROJECT_ROOT", "display_path", "figures_dir", "project_path", "read_json", "write_json"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent

def project_path(path: str | os.PathLike) -> Path:
    """Resolve a relative path against the project root, so notebooks, tests and papermill agree.

    Jupyter, nbval and papermill each start kernels in a different working
    directory; anchoring relative paths at the project root makes ``figures``
    mean the same folder for all of them.
    """
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def display_path(path: str | os.PathLike) -> str:
    """A path for printing: relative to the project when inside it, else only its last two parts.

    Notebook outputs are committed, so they must not name folders of the machine that ran them.
    """
    path = Path(path).resolve()
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(Path("...", *path.parts[-2:]))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, flush it to disk and move it into place.

    ``os.replace`` is atomic on one file system, and the fsync before it makes sure
    the renamed file has its content even after a power cut. An exception or a kill
    leaves the previous file intact and no temporary file behind (on exceptions).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as plain Python numbers and lists, the only kinds JSON holds."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} cannot be written as JSON")


def write_json(data: dict[str, Any], path: str | os.PathLike) -> None:
    """Write JSON atomically with stable formatting (sorted keys, so diffs of committed results stay small)."""
    text = json.dumps(data, indent=2, sort_keys=True, default=_plain)
    write_bytes(path, (text + "\n").encode("utf-8"))


def read_json(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """Read a JSON object written by ``write_json``; a damaged file raises ValueError naming the file and the fix."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{what} '{display_path(path)}' is unreadable ({type(error).__name__}: {error}); "
            "delete it and run the notebook that writes it again"
        ) from error
    if not isinstance(data, dict):
        raise ValueError(f"{what} '{display_path(path)}' does not hold a JSON object; delete it and rebuild it")
    return data


MAIN_RUN_DIR = "models"  # the run whose figures the README and figures/ show


def figures_dir(path: str | os.PathLike | None, smoke_test: bool, run_dir: str | os.PathLike | None = None) -> Path:
    """Where a notebook writes its PNGs: ``path`` if given, else ``figures/`` for the main run (``models/``).

    Only the main run owns ``figures/``: smoke runs (CI) write to ``build/smoke/figures`` and any other run folder
    to ``build/<its name>/figures``, so a comparison run such as ``runs/course_protocol`` never overwrites the
    committed figures of the main run.
    """
    if path:
        folder = project_path(path)
    elif smoke_test:
        folder = project_path("build/smoke/figures")
    elif run_dir is not None and project_path(run_dir) != project_path(MAIN_RUN_DIR):
        folder = project_path("build") / Path(run_dir).name / "figures"
    else:
        folder = project_path("figures")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
