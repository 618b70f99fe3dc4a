"""Every notebook parameter is checked at the door: a bad -p value fails in seconds, names itself, writes nothing."""

import ast
import time
from pathlib import Path

import nbformat
import papermill
import pytest

import vae_utils as vu

NOTEBOOKS = vu.PROJECT_ROOT / "notebooks"

# (notebook, parameter, bad value, error type); every parameter of every notebook has at least one row.
BAD_VALUES = [
    ("01_data_exploration", "data_dir", "", ValueError),
    ("01_data_exploration", "data_dir", 3, TypeError),
    ("01_data_exploration", "figures_dir", " ", ValueError),
    ("01_data_exploration", "seed", -1, ValueError),
    ("01_data_exploration", "seed", "0", TypeError),
    ("01_data_exploration", "smoke_test", "yes", TypeError),
    ("01_data_exploration", "figure_dir", "figures", ValueError),  # misspelled
    ("02_model_summary", "z_dim", 0, ValueError),
    ("02_model_summary", "z_dim", 1.5, TypeError),
    ("02_model_summary", "batch_size", 0, ValueError),
    ("02_model_summary", "batch_size", 60_001, ValueError),
    ("02_model_summary", "data_dir", [], TypeError),
    ("02_model_summary", "seed", True, TypeError),
    ("02_model_summary", "smoke_test", 1, TypeError),
    ("02_model_summary", "zdim", 10, ValueError),  # misspelled
    ("03_train", "epochs", 0, ValueError),
    ("03_train", "epochs", "5", TypeError),
    ("03_train", "epochs", 2.5, TypeError),
    ("03_train", "batch_size", 0, ValueError),
    ("03_train", "lr", 0, ValueError),
    ("03_train", "lr", -1e-4, ValueError),
    ("03_train", "lr", "fast", TypeError),
    ("03_train", "betas", (1.0, 0.9), ValueError),
    ("03_train", "betas", 0.9, TypeError),
    ("03_train", "z_dim", 0, ValueError),
    ("03_train", "patience", -1, ValueError),
    ("03_train", "seed", -1, ValueError),
    ("03_train", "seed", 1.5, TypeError),
    ("03_train", "seed", "1", TypeError),
    ("03_train", "split_seed", -1, ValueError),
    ("03_train", "model_name", "gan", ValueError),
    ("03_train", "model_name", 1, TypeError),
    ("03_train", "val_size", -5, ValueError),
    ("03_train", "val_size", 3000, ValueError),  # not below train_limit (3,000 in smoke mode)
    ("03_train", "train_limit", 1, ValueError),
    ("03_train", "train_limit", 70_000, ValueError),
    ("03_train", "test_limit", 0, ValueError),
    ("03_train", "device", "tpu", ValueError),
    ("03_train", "device", 0, TypeError),
    ("03_train", "data_dir", "", ValueError),
    ("03_train", "run_dir", None, TypeError),
    ("03_train", "run_dir", "", ValueError),
    ("03_train", "figures_dir", 5, TypeError),
    ("03_train", "retrain", "yes", TypeError),
    ("03_train", "max_minutes", 0, ValueError),
    ("03_train", "max_minutes", "1h", TypeError),
    ("03_train", "eval_seed", -3, ValueError),
    ("03_train", "smoke_test", None, TypeError),
    ("03_train", "stopping", "patience", ValueError),
    ("03_train", "stopping", 1, TypeError),
    ("03_train", "test_every", -1, ValueError),
    ("03_train", "test_every", 0.5, TypeError),
    ("03_train", "noise_seeds", 1, ValueError),  # one seed has no spread
    ("03_train", "trend_epochs", 2, ValueError),  # a line through two points has no scatter
    ("03_train", "epoch", 5, ValueError),  # misspelled
    ("04_latent_space", "run_dir", "", ValueError),
    ("04_latent_space", "k_values", [], ValueError),
    ("04_latent_space", "k_values", [5, 20], ValueError),
    ("04_latent_space", "k_values", 10, TypeError),
    ("04_latent_space", "sampler_clusters", [5], ValueError),
    ("04_latent_space", "sampler_clusters", [200_000], ValueError),  # more clusters than training images
    ("04_latent_space", "mixture_components", 5, ValueError),
    ("04_latent_space", "min_purity", 1.5, ValueError),
    ("04_latent_space", "temperatures", [-1.0], ValueError),
    ("04_latent_space", "temperatures", [0.0, 1.0], ValueError),
    ("04_latent_space", "temperatures", 0.8, TypeError),
    ("04_latent_space", "min_digit_accuracy", 2, ValueError),
    ("04_latent_space", "min_mean_accuracy", -0.1, ValueError),
    ("04_latent_space", "tuning_seed", 0, ValueError),  # equal to seed: the reported samples must be unseen
    ("04_latent_space", "spread_seeds", [1, 99], ValueError),  # holds the tuning seed
    ("04_latent_space", "spread_seeds", 3, TypeError),
    ("04_latent_space", "comparison_run_dir", 7, TypeError),
    ("04_latent_space", "judge_dir", 7, TypeError),
    ("04_latent_space", "seed", -1, ValueError),
    ("04_latent_space", "n_per_digit", 0, ValueError),
    ("04_latent_space", "n_per_digit", 1000, ValueError),  # more than n_judged
    ("04_latent_space", "n_judged", 5, ValueError),
    ("04_latent_space", "iw_samples", 0, ValueError),
    ("04_latent_space", "iw_images", 0, ValueError),
    ("04_latent_space", "tsne_images", 10, ValueError),
    ("04_latent_space", "train_limit", 5, ValueError),
    ("04_latent_space", "judge_epochs", 0, ValueError),
    ("04_latent_space", "judge_min_accuracy", 1.5, ValueError),
    ("04_latent_space", "judge_min_accuracy", 0, ValueError),
    ("04_latent_space", "eval_seed", "x", TypeError),
    ("04_latent_space", "second_judge_epochs", 0, ValueError),
    ("04_latent_space", "copying_cells", 1, ValueError),
    ("04_latent_space", "cvae_run_dir", 7, TypeError),
    ("04_latent_space", "seed_run_dirs", "runs/seed1", TypeError),  # a list of folders, not one
    ("04_latent_space", "seed_run_dirs", ["runs/seed1", ""], ValueError),
    ("04_latent_space", "data_dir", "", ValueError),
    ("04_latent_space", "figures_dir", "", ValueError),
    ("04_latent_space", "smoke_test", "no", TypeError),
    ("04_latent_space", "temperature", 0.5, ValueError),  # misspelled
    ("05_explore", "run_dir", "", ValueError),
    ("05_explore", "run_dir", None, TypeError),
    ("05_explore", "data_dir", 7, TypeError),
    ("05_explore", "seed", -1, ValueError),
    ("05_explore", "smoke_test", "true", TypeError),
    ("05_explore", "n_images", 0, ValueError),
    ("05_explore", "n_images", 10_001, ValueError),
    ("05_explore", "n_images", 1e3, TypeError),
    ("05_explore", "cvae_run_dir", "", ValueError),
    ("05_explore", "rundir", "models", ValueError),  # misspelled
]

# The misspelled rows: a parameter the notebook does not declare, and the declared name the error suggests.
MISSPELLED = {
    ("01_data_exploration", "figure_dir"): "figures_dir",
    ("02_model_summary", "zdim"): "z_dim",
    ("03_train", "epoch"): "epochs",
    ("04_latent_space", "temperature"): "temperatures",
    ("05_explore", "rundir"): "run_dir",
}


def _injected_cell(parameters: dict) -> str:
    """The cell papermill injects after the parameters cell (its Python translator writes ``name = repr(value)``)."""
    return "# Parameters\n" + "".join(f"{name} = {value!r}\n" for name, value in parameters.items())


def _first_cells(notebook: str) -> tuple[str, str]:
    """Source of the parameters cell and of the validation cell right after it."""
    cells = nbformat.read(NOTEBOOKS / f"{notebook}.ipynb", as_version=4).cells
    index = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    return cells[index].source, cells[index + 1].source


def _files(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def test_every_parameter_of_every_notebook_has_a_bad_value_row():
    covered = {(nb, name) for nb, name, _, _ in BAD_VALUES}
    declared = {(nb, name) for nb, rules in vu.checks.PARAMETER_RULES.items() for name in rules}
    assert declared <= covered, f"parameters without a bad-value row: {sorted(declared - covered)}"
    stale = covered - declared - set(MISSPELLED)
    assert not stale, f"rows of no declared parameter (renamed or removed?): {sorted(stale)}"
    assert set(MISSPELLED) <= covered and not set(MISSPELLED) & declared
    assert {nb for nb, _ in MISSPELLED} == set(vu.checks.PARAMETER_RULES), "each notebook needs a misspelled row"
    assert all((nb, guess) in declared for (nb, _), guess in MISSPELLED.items())


@pytest.mark.parametrize("notebook", sorted(vu.checks.PARAMETER_RULES))
def test_every_name_of_a_parameters_cell_is_a_declared_parameter(notebook):
    # a parameter the cell defines but the rules do not declare would go unchecked, and its -p would be refused
    tree = ast.parse(_first_cells(notebook)[0])
    assigned = {target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets}
    assert assigned == set(vu.checks.PARAMETER_RULES[notebook])


@pytest.mark.parametrize("notebook, name, value, error", BAD_VALUES, ids=lambda v: repr(v)[:24])
def test_bad_parameter_fails_at_the_door(notebook, name, value, error, tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")  # smoke defaults, as under CI
    parameters, validation = _first_cells(notebook)
    namespace: dict = {}
    exec(parameters, namespace)
    injected = {folder: str(tmp_path / folder) for folder in ("run_dir", "figures_dir") if folder in namespace}
    injected[name] = value
    injected_cell = _injected_cell(injected)
    exec(injected_cell, namespace)  # what papermill's injected-parameters cell does
    namespace["In"] = ["", parameters, injected_cell, validation]  # IPython's input history, as the kernel keeps it
    before = _files(vu.PROJECT_ROOT / "build") if (vu.PROJECT_ROOT / "build").exists() else set()
    started = time.perf_counter()
    with pytest.raises(error) as raised:
        exec(validation, namespace)
    assert time.perf_counter() - started < 5
    assert name in str(raised.value)
    if (notebook, name) in MISSPELLED:
        assert f"is not a parameter of {notebook}: did you mean {MISSPELLED[notebook, name]!r}?" in str(raised.value)
    assert _files(tmp_path) == set(), "nothing may be written before the parameters are checked"
    if (vu.PROJECT_ROOT / "build").exists():
        assert _files(vu.PROJECT_ROOT / "build") == before


@pytest.mark.parametrize(
    "notebook, parameters, name",
    [("03_train", {"epochs": 0}, "epochs"), ("03_train", {"batch_size": 0}, "batch_size"),
     ("04_latent_space", {"temperatures": [-1.0]}, "temperatures"),
     ("04_latent_space", {"temperature": 0.5}, "temperature is not a parameter of 04_latent_space: "
                                                "did you mean 'temperatures'?")],
)
def test_papermill_run_with_a_bad_value_stops_in_seconds(notebook, parameters, name, tmp_path):
    run_dir, figures = tmp_path / "run", tmp_path / "figures"
    started = time.perf_counter()
    with pytest.raises(papermill.PapermillExecutionError) as raised:
        papermill.execute_notebook(
            str(NOTEBOOKS / f"{notebook}.ipynb"), str(tmp_path / "out.ipynb"),
            parameters={**parameters, "run_dir": str(run_dir), "figures_dir": str(figures)}, cwd=str(NOTEBOOKS),
            progress_bar=False,
        )
    assert name in raised.value.evalue
    assert time.perf_counter() - started < 60
    assert not run_dir.exists() and not figures.exists(), "nothing may be written before the parameters are checked"


@pytest.mark.parametrize("notebook", sorted(vu.checks.PARAMETER_RULES))
def test_names_the_notebook_assigns_itself_are_not_refused(notebook, monkeypatch):
    # In JupyterLab, the check cell is re-run after later cells defined `model`, `figure_dir` and the like: only
    # names papermill injected can be misspelled parameters.
    monkeypatch.setenv("CI", "true")
    parameters, validation = _first_cells(notebook)
    later = "import numpy as np\nmodel = None\nfigure_dir = 'x'\ntemperature = 0.5\nrundir = 'x'\n"
    for injected in ([], [_injected_cell({"seed": 3})]):
        namespace: dict = {}
        exec(parameters, namespace)
        for cell in injected:
            exec(cell, namespace)
        exec(validation, namespace)
        exec(later, namespace)
        namespace["In"] = ["", parameters, *injected, validation, later, validation]
        exec(validation, namespace)  # no error
        # a name the notebook assigns after papermill injected it is still the injected (checked) one
        if injected:
            namespace["In"].append(_injected_cell({"model": 1}))
            with pytest.raises(ValueError, match=f"model is not a parameter of {notebook}"):
                exec(validation, namespace)


def test_message_names_parameter_value_and_what_is_allowed():
    with pytest.raises(ValueError, match=r"^epochs must be an integer >= 1, got 0$"):
        vu.checks.check_int("epochs", 0, low=1)
    with pytest.raises(TypeError, match=r"epochs must be an integer >= 1, got True \(bool\)"):
        vu.checks.check_int("epochs", True, low=1)


def test_train_config_runs_the_same_checks():
    with pytest.raises(ValueError, match="epochs"):
        vu.TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="val_size"):
        vu.TrainConfig(train_limit=100, val_size=100)
    assert vu.TrainConfig.from_parameters({"epochs": 3, "lr": 1e-3, "unrelated": 1}).epochs == 3
