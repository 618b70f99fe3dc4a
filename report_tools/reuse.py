"""Reuse of executed notebooks: a key of everything that produced one, so a rebuild re-executes only what changed.

Used by ``scripts/run_notebooks.py`` (``make report``); the key is ``vae_utils.keys.content_key``, the one scheme of
every kept result. The key covers the notebook's source, the package's code, the
parameters and the run-folder files the notebook reads; the record of an execution lives in its run folder
(``RunFolder.EXECUTIONS``) with a digest of every output, so a reuse needs the same key and intact outputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import vae_utils
from vae_utils.keys import content_key, file_digest
from vae_utils.paths import PROJECT_ROOT, project_path
from vae_utils.run import RunFolder

__all__ = ["REFERENCED_RUNS", "execution_key", "execution_record", "notebook_defaults", "reuse_verdict"]

KEY_FORMAT = 2  # raise when the key's ingredients change, so that no older record matches by accident
PACKAGE_DIR = Path(vae_utils.__file__).resolve().parent  # the analysis code every notebook runs
# Parameters that name other run folders a notebook reads, and which of their files it reads: those enter the key.
# Of the judge's folder only the judges count, so that analysing that folder again does not stale every other run.
REFERENCED_RUNS = {
    "judge_dir": (RunFolder.JUDGE, RunFolder.SECOND_JUDGE),
    "comparison_run_dir": RunFolder.WRITTEN_BY["03_train"] + RunFolder.WRITTEN_BY["04_latent_space"],
    "seed_run_dirs": RunFolder.WRITTEN_BY["03_train"] + RunFolder.WRITTEN_BY["04_latent_space"],
    "cvae_run_dirs": RunFolder.WRITTEN_BY["03_train"],  # their analysis is written by notebook 05 itself
    # the explorer's conditional VAE, and notebook 06's reference line (its scores, written by notebook 05)
    "cvae_run_dir": RunFolder.WRITTEN_BY["03_train"] + (RunFolder.LATENT_METRICS,),
}


def _shown(path: Path) -> str:
    """A record's name for a file: project-relative inside the project (the same on every clone), else absolute."""
    path = project_path(path).resolve()
    return path.relative_to(PROJECT_ROOT).as_posix() if path.is_relative_to(PROJECT_ROOT) else str(path)


def _digests(paths: Iterable[Path]) -> dict[str, str]:
    """{path as recorded: digest} of existing files, sorted, so the same files give the same mapping."""
    return {_shown(path): file_digest(path) for path in sorted(paths) if path.is_file()}


def _code_digests() -> dict[str, str]:
    """Digests of the package's modules: any change to the analysis code changes every key."""
    return {path.name: file_digest(path) for path in sorted(PACKAGE_DIR.glob("*.py"))}


def _folders(value: Any) -> list[RunFolder]:
    """The run folders a parameter value names (one path, a list of them, or None)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return [RunFolder(item) for item in values if isinstance(item, (str, os.PathLike))]


def _input_files(notebook: str, parameters: Mapping[str, Any]) -> list[Path]:
    """The run-folder files the notebook reads: its own folder's files from earlier notebooks, and every training
    and analysis file of the other finished run folders its parameters name. A run still training is skipped by the
    notebooks (``RunFolder.finished``), so its files stay out of the key until it finishes: otherwise every epoch
    of a run in the background would make the analysis that waits for it execute again."""
    files: list[Path] = []
    own = parameters.get("run_dir")
    if own is not None:
        earlier = [name for name in RunFolder.WRITTEN_BY if name < notebook]
        files += RunFolder(own).files_written_by(earlier)
    for name, read in REFERENCED_RUNS.items():
        for folder in _folders(parameters.get(name)):
            if folder.finished and (own is None or folder.path != project_path(own)):
                files += [folder.file(file) for file in read if folder.has(file)]
    return files


def notebook_defaults(notebook_path: str | os.PathLike) -> dict[str, Any]:
    """The values the notebook's ``parameters`` cell assigns, as it assigns them in this environment (the smoke
    switch included): a run folder named by a default is read as surely as one passed with ``-p``."""
    notebook = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            namespace: dict[str, Any] = {}
            exec("".join(cell["source"]), namespace)  # the project's own cell: plain assignments
            return {name: value for name, value in namespace.items()
                    if not name.startswith("__") and not isinstance(value, type(os))}
    return {}


def execution_key(notebook_path: str | os.PathLike, parameters: Mapping[str, Any]) -> str:
    """One digest of what an execution depends on: the notebook, the code, the parameters, the smoke switch and the
    run-folder files it reads (named by a parameter given or by the notebook's default). The MNIST files are fixed
    data and stay out of it."""
    notebook_path = Path(notebook_path)
    effective = {**notebook_defaults(notebook_path), **parameters}
    return content_key(
        kind="execution", format=KEY_FORMAT, notebook=file_digest(notebook_path), code=_code_digests(),
        parameters={name: parameters[name] for name in sorted(parameters)}, smoke_test="CI" in os.environ,
        inputs=_digests(_input_files(notebook_path.stem, effective)),
    )


def execution_record(key: str, outputs: Iterable[Path]) -> dict[str, Any]:
    """What a complete execution leaves in its run folder: its key and the digest of every output it wrote."""
    return {"key": key, "outputs": _digests(outputs)}


def reuse_verdict(record: Mapping[str, Any] | None, key: str, required: Iterable[Path]) -> str | None:
    """Why the recorded execution cannot be reused, or None when it can.

    It can when its key equals ``key`` (nothing it depends on changed) and every output it recorded, and every
    ``required`` file, is there with the bytes it had: a deleted or hand-edited output is recomputed.
    """
    if record is None:
        return "no complete execution recorded"
    if record.get("key") != key:
        return "notebook, code, parameters or the run folders it reads changed"
    outputs = record.get("outputs", {})
    missing = [_shown(Path(path)) for path in required if _shown(Path(path)) not in outputs]
    if missing:
        return f"{missing[0]} was not written by the recorded execution"
    for shown, digest in outputs.items():
        path = project_path(shown)
        if not path.is_file():
            return f"{shown} is missing"
        if file_digest(path) != digest:
            return f"{shown} changed since"
    return None
