"""Every notebook parameter is checked at the door: a bad -p value fails in seconds, names itself, writes nothing."""

import ast
import types

import nbformat
import papermill
import pytest

import vae_utils as vu
from vae_utils import checks
from vae_utils.config import NOTEBOOK_CONFIGS, TrainConfig, check_parameters

NOTEBOOKS = vu.paths.PROJECT_ROOT / "notebooks"

# One valid namespace per notebook (smoke-sized values): each test below changes one thing in it.
COMMON = {"smoke_test": True, "seed": 0, "data_dir": None}
VALID = {
    "01_data_exploration": {**COMMON, "figures_dir": None},
    "02_model_summary": {**COMMON, "z_dim": 15, "batch_size": 128},
    "03_train": {
        **COMMON, "epochs": 2, "batch_size": 128, "lr": 1e-4, "betas": (0.9, 0.99), "z_dim": 15, "patience": 10,
        "model_name": "vae", "split_seed": 0, "val_size": 500, "stopping": "validation", "test_every": 10,
        "train_limit": 3000, "test_limit": 1000, "device": "auto", "run_dir": "build/smoke/run", "figures_dir": None,
        "retrain": True, "max_minutes": None, "eval_seed": 1234, "noise_seeds": 3, "trend_epochs": 40,
    },
    "04_latent_space": {
        **COMMON, "run_dir": "build/smoke/run", "figures_dir": None, "train_limit": 3000, "k_values": [10, 20],
        "sampler_clusters": [10, 100], "mixture_components": 50, "min_purity": 0.9, "temperatures": [0.7, 1.0],
        "min_digit_accuracy": 0.0, "min_mean_accuracy": 0.0, "tuning_seed": 99, "spread_seeds": [1, 2],
        "n_per_digit": 5, "n_judged": 50, "iw_samples": 100, "iw_images": 100, "tsne_images": 500, "judge_epochs": 1,
        "judge_dir": None, "judge_min_accuracy": None, "eval_seed": 1234, "second_judge_epochs": 1, "cluster_starts": 3,
    },
    "05_comparisons": {
        **COMMON, "figures_dir": None, "run_dir": "build/smoke/run", "train_limit": 3000,
        "comparison_run_dir": "runs/course_protocol", "seed_run_dirs": [], "cvae_run_dirs": ["runs/cvae"],
        "copying_cells": 10, "bootstrap_rounds": 20, "n_per_digit": 5, "iw_images": 100, "eval_seed": 1234,
    },
    "06_label_budget": {
        **COMMON, "figures_dir": None, "run_dir": "build/smoke/run", "train_limit": 3000, "budgets": [1, 10, None],
        "subsets": 2, "n_judged": 20, "cvae_run_dir": None, "sampling_seed": 0, "clustering_seeds": [0, 1],
    },
    "07_explore": {**COMMON, "run_dir": "build/smoke/run", "n_images": 500, "cvae_run_dir": None},
}

# (notebook, parameter, bad value, error type): the ranges and the types a user is likely to get wrong.
BAD_VALUES = [
    ("01_data_exploration", "data_dir", "", ValueError),
    ("01_data_exploration", "data_dir", 3, TypeError),
    ("01_data_exploration", "figures_dir", " ", ValueError),
    ("01_data_exploration", "seed", -1, ValueError),
    ("01_data_exploration", "seed", "0", TypeError),
    ("01_data_exploration", "smoke_test", "yes", TypeError),
    ("02_model_summary", "z_dim", 0, ValueError),
    ("02_model_summary", "z_dim", 1.5, TypeError),
    ("02_model_summary", "batch_size", 0, ValueError),
    ("02_model_summary", "batch_size", 60_001, ValueError),
    ("02_model_summary", "data_dir", [], TypeError),
    ("02_model_summary", "seed", True, TypeError),
    ("02_model_summary", "smoke_test", 1, TypeError),
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
    ("03_train", "split_seed", -1, ValueError),
    ("03_train", "model_name", "gan", ValueError),
    ("03_train", "val_size", -5, ValueError),
    ("03_train", "train_limit", 1, ValueError),
    ("03_train", "train_limit", 70_000, ValueError),
    ("03_train", "test_limit", 0, ValueError),
    ("03_train", "test_limit", 10_001, ValueError),
    ("03_train", "device", "tpu", ValueError),
    ("03_train", "data_dir", "", ValueError),
    ("03_train", "run_dir", None, TypeError),
    ("03_train", "run_dir", "", ValueError),
    ("03_train", "retrain", "yes", TypeError),
    ("03_train", "max_minutes", 0, ValueError),
    ("03_train", "max_minutes", "1h", TypeError),
    ("03_train", "eval_seed", -3, ValueError),
    ("03_train", "smoke_test", None, TypeError),
    ("03_train", "stopping", "patience", ValueError),
    ("03_train", "test_every", -1, ValueError),
    ("03_train", "test_every", 0.5, TypeError),
    ("03_train", "noise_seeds", 1, ValueError),  # one seed has no spread
    ("03_train", "trend_epochs", 2, ValueError),  # a line through two points has no scatter
    ("04_latent_space", "run_dir", "", ValueError),
    ("04_latent_space", "k_values", [], ValueError),
    ("04_latent_space", "k_values", [5, 20], ValueError),
    ("04_latent_space", "k_values", 10, TypeError),
    ("04_latent_space", "sampler_clusters", [5], ValueError),
    ("04_latent_space", "mixture_components", 5, ValueError),
    ("04_latent_space", "min_purity", 1.5, ValueError),
    ("04_latent_space", "temperatures", [-1.0], ValueError),
    ("04_latent_space", "temperatures", [0.0, 1.0], ValueError),
    ("04_latent_space", "temperatures", 0.8, TypeError),
    ("04_latent_space", "min_digit_accuracy", 2, ValueError),
    ("04_latent_space", "min_mean_accuracy", -0.1, ValueError),
    ("04_latent_space", "spread_seeds", 3, TypeError),
    ("04_latent_space", "judge_dir", 7, TypeError),
    ("04_latent_space", "seed", -1, ValueError),
    ("04_latent_space", "n_per_digit", 0, ValueError),
    ("04_latent_space", "n_judged", 5, ValueError),  # PRDC's k = 5 needs at least 7
    ("04_latent_space", "iw_samples", 0, ValueError),
    ("04_latent_space", "iw_images", 0, ValueError),
    ("04_latent_space", "tsne_images", 10, ValueError),
    ("04_latent_space", "train_limit", 5, ValueError),
    ("04_latent_space", "judge_epochs", 0, ValueError),
    ("04_latent_space", "judge_min_accuracy", 1.5, ValueError),
    ("04_latent_space", "judge_min_accuracy", 0, ValueError),
    ("04_latent_space", "eval_seed", "x", TypeError),
    ("04_latent_space", "second_judge_epochs", 0, ValueError),
    ("04_latent_space", "cluster_starts", 1, ValueError),
    ("05_comparisons", "run_dir", "", ValueError),
    ("05_comparisons", "train_limit", 5, ValueError),
    ("05_comparisons", "train_limit", 60_001, ValueError),
    ("05_comparisons", "comparison_run_dir", 7, TypeError),
    ("05_comparisons", "comparison_run_dir", "", ValueError),
    ("05_comparisons", "seed_run_dirs", "runs/seed1", TypeError),  # a list of folders, not one
    ("05_comparisons", "seed_run_dirs", ["runs/seed1", ""], ValueError),
    ("05_comparisons", "cvae_run_dirs", "runs/cvae", TypeError),
    ("05_comparisons", "cvae_run_dirs", [None], TypeError),
    ("05_comparisons", "copying_cells", 1, ValueError),
    ("05_comparisons", "bootstrap_rounds", 5, ValueError),
    ("05_comparisons", "n_per_digit", 0, ValueError),
    ("05_comparisons", "iw_images", 0, ValueError),
    ("05_comparisons", "iw_images", 10_001, ValueError),
    ("05_comparisons", "eval_seed", -1, ValueError),
    ("05_comparisons", "figures_dir", "", ValueError),
    ("06_label_budget", "run_dir", "", ValueError),
    ("06_label_budget", "train_limit", 5, ValueError),
    ("06_label_budget", "budgets", [], ValueError),
    ("06_label_budget", "budgets", 10, TypeError),
    ("06_label_budget", "budgets", [0, 10], ValueError),
    ("06_label_budget", "budgets", [1, 2.5], TypeError),
    ("06_label_budget", "budgets", [10, 10], ValueError),
    ("06_label_budget", "budgets", [None, None], ValueError),
    ("06_label_budget", "subsets", 0, ValueError),
    ("06_label_budget", "n_judged", 6, ValueError),  # PRDC's k = 5 needs at least 7
    ("06_label_budget", "cvae_run_dir", "", ValueError),
    ("06_label_budget", "sampling_seed", -1, ValueError),
    ("06_label_budget", "clustering_seeds", [0], ValueError),  # one seed has no spread
    ("06_label_budget", "clustering_seeds", [1, 1], ValueError),
    ("06_label_budget", "clustering_seeds", [0, -1], ValueError),
    ("07_explore", "run_dir", "", ValueError),
    ("07_explore", "run_dir", None, TypeError),
    ("07_explore", "data_dir", 7, TypeError),
    ("07_explore", "seed", -1, ValueError),
    ("07_explore", "smoke_test", "true", TypeError),
    ("07_explore", "n_images", 0, ValueError),
    ("07_explore", "n_images", 10_001, ValueError),
    ("07_explore", "n_images", 1e3, TypeError),
    ("07_explore", "cvae_run_dir", "", ValueError),
]

# (notebook, a misspelled -p name, the declared name the error suggests)
MISSPELLED = [
    ("01_data_exploration", "figure_dir", "figures_dir"),
    ("02_model_summary", "zdim", "z_dim"),
    ("03_train", "epochz", "epochs"),
    ("03_train", "epoch", "epochs"),
    ("04_latent_space", "temperature", "temperatures"),
    ("05_comparisons", "seed_run_dir", "seed_run_dirs"),
    ("05_comparisons", "cvae_run_dir", "cvae_run_dirs"),
    ("06_label_budget", "budget", "budgets"),
    ("07_explore", "rundir", "run_dir"),
]

# (notebook, changes, the two parameters the message must name): checks of two parameters at once.
RELATIONS = [
    ("03_train", {"train_limit": 3000, "val_size": 3000}, ("val_size", "train_limit")),
    ("04_latent_space", {"train_limit": 3000, "k_values": [10, 5000]}, ("k_values", "train_limit")),
    ("04_latent_space", {"train_limit": 3000, "sampler_clusters": [4000]}, ("sampler_clusters", "train_limit")),
    ("04_latent_space", {"train_limit": 40, "mixture_components": 50}, ("mixture_components", "train_limit")),
    ("04_latent_space", {"n_per_digit": 51, "n_judged": 50}, ("n_per_digit", "n_judged")),
    ("04_latent_space", {"tuning_seed": 1, "spread_seeds": [1, 2]}, ("spread_seeds", "tuning_seed")),
    ("04_latent_space", {"tuning_seed": 0, "seed": 0}, ("tuning_seed", "seed")),
]

PARAMETERS = [(notebook, name) for notebook, config in NOTEBOOK_CONFIGS.items() for name in config.parameter_names()]


def namespace(notebook: str, **changes) -> dict:
    """A notebook's globals as a plain dict: its valid parameters with ``changes`` applied."""
    return {**VALID[notebook], **changes}


def test_message_names_parameter_value_and_what_is_allowed():
    with pytest.raises(ValueError, match=r"^epochs must be an integer >= 1, got 0$"):
        checks.check_int("epochs", 0, low=1)
    with pytest.raises(TypeError, match=r"^epochs must be an integer >= 1, got True \(bool\)$"):
        checks.check_int("epochs", True, low=1)


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_CONFIGS))
def test_valid_parameters_build_the_notebooks_config(notebook):
    config = check_parameters(notebook, namespace(notebook))
    assert type(config) is NOTEBOOK_CONFIGS[notebook]
    for name, value in VALID[notebook].items():
        assert getattr(config if hasattr(config, name) else config.train, name) == value


@pytest.mark.parametrize("notebook, name, value, error", BAD_VALUES, ids=lambda v: repr(v)[:24])
def test_bad_value_is_refused_naming_the_parameter(notebook, name, value, error):
    with pytest.raises(error, match=rf"^{name} must be "):
        check_parameters(notebook, namespace(notebook, **{name: value}))


@pytest.mark.parametrize("notebook, name", PARAMETERS)
def test_every_parameter_refuses_a_value_of_the_wrong_type(notebook, name):
    with pytest.raises(TypeError, match=rf"^{name} must be "):
        check_parameters(notebook, namespace(notebook, **{name: object()}))


@pytest.mark.parametrize("notebook, name", PARAMETERS)
def test_a_parameter_the_parameters_cell_forgot_is_a_name_error(notebook, name):
    globals_ = namespace(notebook)
    del globals_[name]
    with pytest.raises(NameError, match=rf"the parameters cell of {notebook} must define {name}$"):
        check_parameters(notebook, globals_)


@pytest.mark.parametrize("notebook, misspelled, guess", MISSPELLED)
def test_misspelled_parameter_is_refused_with_the_closest_name(notebook, misspelled, guess):
    with pytest.raises(ValueError, match=f"^{misspelled} is not a parameter of {notebook}: did you mean '{guess}'?"):
        check_parameters(notebook, namespace(notebook, **{misspelled: 5}))


@pytest.mark.parametrize("value", [None, "x", 1.5, True, [1, "a"], {"a": [1]}, (1, 2)])
def test_every_value_papermill_can_inject_under_an_unknown_name_is_refused(value):
    with pytest.raises(ValueError, match="^surprise is not a parameter of 07_explore"):
        check_parameters("07_explore", namespace("07_explore", surprise=value))


def test_modules_private_names_ipython_names_and_objects_are_not_parameters():
    ipython = {"In": ["", "seed = 0"], "Out": {1: 2}, "_i1": "seed = 0", "_": None, "exit": 0, "quit": 0, "open": 0,
               "get_ipython": 0}
    others = {"os": types.ModuleType("os"), "model": object(), "helper": lambda: None, "frame": [object()]}
    check_parameters("07_explore", namespace("07_explore", **ipython, **others))


def test_names_defined_after_a_passing_check_are_not_refused_but_values_still_are():
    # In JupyterLab the check cell is re-run after later cells defined names of their own (literals among them).
    globals_ = namespace("04_latent_space")
    check_parameters("04_latent_space", globals_)
    globals_.update(temperature=0.5, rundir="x", pairs=[(1, 7)], conditional=False)
    check_parameters("04_latent_space", globals_)
    globals_["n_judged"] = 5
    with pytest.raises(ValueError, match="^n_judged must be"):
        check_parameters("04_latent_space", globals_)


def test_a_refused_name_stays_refused_until_removed():
    globals_ = namespace("03_train", epochz=5)
    for _ in range(2):  # a failed check marks nothing
        with pytest.raises(ValueError, match="^epochz is not a parameter"):
            check_parameters("03_train", globals_)
    del globals_["epochz"]
    check_parameters("03_train", globals_)


def test_an_unknown_notebook_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"notebook must be one of \['01_data_exploration'.*'07_explore'\]"):
        check_parameters("05_explore", namespace("07_explore"))


@pytest.mark.parametrize("notebook, changes, names", RELATIONS, ids=lambda v: str(v)[:40])
def test_parameters_that_conflict_are_refused_naming_both(notebook, changes, names):
    with pytest.raises(ValueError) as raised:
        check_parameters(notebook, namespace(notebook, **changes))
    assert all(name in str(raised.value) for name in names)


def test_notebook_03_trains_with_the_train_config_of_its_parameters():
    globals_ = namespace("03_train", epochs=7, betas=[0.8, 0.9])
    assert check_parameters("03_train", globals_).train == TrainConfig.from_parameters(globals_)
    assert TrainConfig.from_parameters(globals_).betas == (0.8, 0.9)
    with pytest.raises(ValueError, match="^channels_last is not a parameter of 03_train"):  # memory layout only
        check_parameters("03_train", namespace("03_train", channels_last=False))


def test_train_config_runs_the_same_checks():
    with pytest.raises(ValueError, match="^epochs must be an integer >= 1, got 0$"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="^val_size must be below .* from train_limit"):
        TrainConfig(train_limit=100, val_size=100)
    with pytest.raises(TypeError, match="^channels_last must be True or False"):
        TrainConfig(channels_last=1)
    assert TrainConfig.from_parameters({"epochs": 3, "lr": 1e-3, "unrelated": 1}) == TrainConfig(epochs=3, lr=1e-3)


def test_train_config_dict_is_plain_and_rebuilds_the_config():
    config = TrainConfig(epochs=3, betas=(0.8, 0.95), train_limit=1000, val_size=100, model_name="cvae")
    data = config.to_dict()
    assert data["betas"] == [0.8, 0.95] and data["epochs"] == 3 and data["channels_last"] is True
    assert TrainConfig(**data) == config
    assert config.differences(data) == []


def _parameters_cells(notebook: str) -> tuple[str, str]:
    """Source of a notebook's ``parameters`` cell and of the cell right after it."""
    path = NOTEBOOKS / f"{notebook}.ipynb"
    if not path.exists():
        pytest.skip(f"{path.name} does not exist yet")
    cells = nbformat.read(path, as_version=4).cells
    index = next(i for i, cell in enumerate(cells) if "parameters" in cell.metadata.get("tags", []))
    return cells[index].source, cells[index + 1].source


@pytest.mark.parametrize("ci", [True, False], ids=["CI", "full"])
@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_CONFIGS))
def test_a_notebooks_own_defaults_are_accepted(notebook, ci, monkeypatch):
    if ci:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)
    globals_: dict = {}
    exec(_parameters_cells(notebook)[0], globals_)
    NOTEBOOK_CONFIGS[notebook].from_parameters(globals_)


@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_CONFIGS))
def test_a_notebook_declares_exactly_its_configs_parameters_and_checks_them_next(notebook):
    # a name the cell defines but the config lacks would be refused as unknown; one the config lacks, a NameError
    parameters, check_cell = _parameters_cells(notebook)
    assigned = {target.id for node in ast.parse(parameters).body if isinstance(node, ast.Assign)
                for target in node.targets}
    assert assigned == set(NOTEBOOK_CONFIGS[notebook].parameter_names())
    assert f'check_parameters("{notebook}", globals())' in check_cell


def test_papermill_run_with_a_misspelled_parameter_stops_at_the_check_cell(tmp_path):
    figures = tmp_path / "figures"
    with pytest.raises(papermill.PapermillExecutionError) as raised:
        papermill.execute_notebook(
            str(NOTEBOOKS / "01_data_exploration.ipynb"), str(tmp_path / "out.ipynb"),
            parameters={"figure_dir": str(figures)}, cwd=str(NOTEBOOKS), progress_bar=False,
        )
    assert "figure_dir is not a parameter of 01_data_exploration: did you mean 'figures_dir'?" in raised.value.evalue
    assert "check_parameters" in raised.value.source, "it must stop at the check, before any data is loaded"
    assert not figures.exists()
