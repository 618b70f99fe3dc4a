"""Each notebook's parameters as one frozen dataclass whose fields carry their checks, and the door that builds it.

Every notebook calls ``check_parameters("<notebook>", globals())`` right after its ``parameters`` cell: a missing,
misspelled or out-of-range parameter fails there in seconds, naming itself, before any data is loaded or file written.
"""

from __future__ import annotations

import difflib
import types
from dataclasses import MISSING, asdict, dataclass, field, fields
from functools import partial
from typing import Any, Callable, ClassVar, Mapping, MutableMapping, Self

from . import checks
from .data import N_DIGITS, N_TEST_IMAGES, N_TRAIN_IMAGES
from .model import MODELS
from .run import RunFolder

__all__ = [
    "NOTEBOOK_CONFIGS", "STOPPING_RULES", "ComparisonsConfig", "DataConfig", "ExploreConfig", "LabelBudgetConfig",
    "LatentConfig", "ModelSummaryConfig", "NotebookConfig", "RUN_NEEDS", "TrainConfig", "TrainNotebookConfig",
    "check_parameters", "check_run_folders",
]

Rule = Callable[[str, Any], None]  # check(name, value): raises TypeError or ValueError naming ``name``


def parameter(check: Rule, default: Any = MISSING, runs: tuple[str, ...] = ()) -> Any:
    """A dataclass field that is a parameter, checked on creation by ``check(name, value)``. ``runs``: for a
    parameter naming run folders, what each must be (``RUN_NEEDS``), checked by ``check_run_folders``."""
    return field(default=default, metadata={"check": check, "runs": runs})


def check_fields(config: Any) -> None:
    """Run each field's check on its value, in field order."""
    for item in fields(config):
        if "check" in item.metadata:
            item.metadata["check"](item.name, getattr(config, item.name))


SEED: Rule = partial(checks.check_int, low=0)
COUNT: Rule = partial(checks.check_int, low=1)
PATH: Rule = checks.check_path
FOLDER: Rule = partial(checks.check_path, optional=True)  # None: the default place
UNIT: Rule = partial(checks.check_number, low=0, high=1)
BOOL: Rule = checks.check_bool

# Early stopping: "validation" watches the held-out loss (ours); "course_report" counts consecutive rises of the
# training loss and stops when the count exceeds the patience (the course report's notebook).
STOPPING_RULES = ("validation", "course_report")

# Fields that do not change what is computed: where it runs, how long this session may take, memory layout.
SESSION_FIELDS = ("device", "max_minutes", "channels_last")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; defaults are the course report's. Checked on creation.

    Run folders store ``to_dict()``; notebook 03 sets every field but ``channels_last``.
    """

    epochs: int = parameter(COUNT, 1250)
    batch_size: int = parameter(COUNT, 128)
    lr: float = parameter(partial(checks.check_number, low=0, low_open=True), 1e-4)
    betas: tuple[float, float] = parameter(checks.check_betas, (0.9, 0.99))
    z_dim: int = parameter(COUNT, 15)
    patience: int = parameter(COUNT, 10)
    # "vae": the course report's network; "cvae": it given the digit's label (model.MODELS)
    model_name: str = parameter(partial(checks.check_choice, choices=tuple(MODELS)), "vae")
    seed: int = parameter(SEED, 0)  # initialisation and batch order
    split_seed: int = parameter(SEED, 0)  # which training images are held out for validation: fixed across seeds
    val_size: int = parameter(partial(checks.check_int, low=0), 5000)
    # use only the first N training images (None: all 60,000)
    train_limit: int | None = parameter(partial(checks.check_int, low=2, high=N_TRAIN_IMAGES, optional=True), None)
    device: str = parameter(checks.check_device, "auto")
    # stop cleanly after this many minutes of this session; resume continues
    max_minutes: float | None = parameter(partial(checks.check_number, low=0, low_open=True, optional=True), None)
    channels_last: bool = parameter(BOOL, True)  # memory layout only: faster CPU/GPU kernels, same function
    # "validation": patience on the held-out loss; "course_report": the original's rule
    stopping: str = parameter(partial(checks.check_choice, choices=STOPPING_RULES), "validation")

    def __post_init__(self) -> None:
        check_fields(self)
        n_train = self.train_limit or N_TRAIN_IMAGES
        if self.val_size >= n_train:
            raise ValueError(
                f"val_size must be below the number of training images ({n_train:,}, from train_limit), "
                f"got {self.val_size:,}; lower val_size or raise train_limit"
            )
        object.__setattr__(self, "betas", tuple(self.betas))

    @classmethod
    def from_parameters(cls, namespace: Mapping[str, Any]) -> TrainConfig:
        """The configuration from a notebook's parameters (its ``globals()``): every field found there is taken."""
        return cls(**{item.name: namespace[item.name] for item in fields(cls) if item.name in namespace})

    def to_dict(self) -> dict[str, Any]:
        """Plain-typed copy for checkpoints and JSON."""
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data

    def differences(self, saved: Mapping[str, Any]) -> list[str]:
        """'name: run folder has A, parameters ask for B' for each run-defining field that differs (epochs aside)."""
        defaults = TrainConfig().to_dict()
        differences = []
        for name, value in self.to_dict().items():
            if name in SESSION_FIELDS or name == "epochs":
                continue
            found = saved.get(name, defaults[name])  # fields added later take their default in older runs
            if found != value:
                differences.append(f"{name}: run folder has {found!r}, parameters ask for {value!r}")
        return differences


TRAIN_PARAMETERS = tuple(item.name for item in fields(TrainConfig) if item.name != "channels_last")


@dataclass(frozen=True)
class NotebookConfig:
    """A notebook's parameters: one field per name of its ``parameters`` cell, each checked on creation.

    Every notebook has the smoke switch and the MNIST folder, declared here once. Subclasses are frozen dataclasses
    without defaults (the defaults live in the notebook's ``parameters`` cell).
    """

    notebook: ClassVar[str]
    smoke_test: bool = parameter(BOOL)
    data_dir: str | None = parameter(FOLDER)

    def __post_init__(self) -> None:
        check_fields(self)
        self.check_relations()

    def check_relations(self) -> None:
        """Checks that involve two parameters at once, each message naming both; none unless a notebook needs them."""

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """The names the notebook's ``parameters`` cell must define, and the only ones papermill may set."""
        return tuple(item.name for item in fields(cls))

    @classmethod
    def require(cls, namespace: Mapping[str, Any]) -> None:
        """NameError naming every parameter that ``namespace`` lacks (a ``parameters`` cell that forgot one)."""
        missing = [name for name in cls.parameter_names() if name not in namespace]
        if missing:
            raise NameError(f"the parameters cell of {cls.notebook} must define {', '.join(missing)}")

    @classmethod
    def from_parameters(cls, namespace: Mapping[str, Any]) -> Self:
        """The config from a notebook's ``globals()``; other names there are left alone."""
        cls.require(namespace)
        return cls(**{name: namespace[name] for name in cls.parameter_names()})


@dataclass(frozen=True)
class DataConfig(NotebookConfig):
    """Notebook 01: the data set at a glance."""

    notebook: ClassVar[str] = "01_data_exploration"
    seed: int = parameter(SEED)
    figures_dir: str | None = parameter(FOLDER)


@dataclass(frozen=True)
class ModelSummaryConfig(NotebookConfig):
    """Notebook 02: the network's layers and shapes."""

    notebook: ClassVar[str] = "02_model_summary"
    seed: int = parameter(SEED)
    z_dim: int = parameter(COUNT)
    batch_size: int = parameter(partial(checks.check_int, low=1, high=N_TRAIN_IMAGES))


@dataclass(frozen=True)
class TrainNotebookConfig(NotebookConfig):
    """Notebook 03: the run's ``TrainConfig`` (every field but channels_last is a parameter) and this session's."""

    notebook: ClassVar[str] = "03_train"
    train: TrainConfig  # checked by TrainConfig itself
    run_dir: str = parameter(PATH)
    figures_dir: str | None = parameter(FOLDER)
    retrain: bool = parameter(BOOL)
    eval_seed: int = parameter(SEED)
    test_limit: int | None = parameter(partial(checks.check_int, low=1, high=N_TEST_IMAGES, optional=True))
    test_every: int = parameter(partial(checks.check_int, low=0))
    noise_seeds: int = parameter(partial(checks.check_int, low=2))  # one seed has no spread
    trend_epochs: int = parameter(partial(checks.check_int, low=3))  # a line through two points has no scatter

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """TrainConfig's parameters, then the session's."""
        return (*TRAIN_PARAMETERS, *(item.name for item in fields(cls) if item.name != "train"))

    @classmethod
    def from_parameters(cls, namespace: Mapping[str, Any]) -> Self:
        """The config from notebook 03's ``globals()``: TrainConfig first, then the session's fields."""
        cls.require(namespace)
        train = TrainConfig(**{name: namespace[name] for name in TRAIN_PARAMETERS})
        return cls(train=train, **{item.name: namespace[item.name] for item in fields(cls) if item.name != "train"})


@dataclass(frozen=True)
class StudyConfig(NotebookConfig):
    """What the analyses of a trained run (notebooks 04, 05 and 06) share: the seed, the figures' folder, the run
    folder they read (finished, unconditional and analysed by notebook 04, unless a notebook asks less) and the
    training images the run was trained on."""

    seed: int = parameter(SEED)
    figures_dir: str | None = parameter(FOLDER)
    run_dir: str = parameter(PATH, runs=("finished", "unconditional", "analysed"))
    train_limit: int | None = parameter(partial(checks.check_int, low=N_DIGITS, high=N_TRAIN_IMAGES, optional=True))


@dataclass(frozen=True)
class LatentConfig(StudyConfig):
    """Notebook 04: the latent space, its k-means naming and the per-digit samplers."""

    notebook: ClassVar[str] = "04_latent_space"
    run_dir: str = parameter(PATH, runs=("finished",))  # notebook 04 is the analysis: any finished run
    k_values: list[int] = parameter(partial(checks.check_int_list, low=N_DIGITS))
    sampler_clusters: list[int] = parameter(partial(checks.check_int_list, low=N_DIGITS))
    mixture_components: int = parameter(partial(checks.check_int, low=N_DIGITS))
    min_purity: float = parameter(UNIT)
    temperatures: list[float] = parameter(partial(checks.check_number_list, low=0))
    min_digit_accuracy: float = parameter(UNIT)
    min_mean_accuracy: float = parameter(UNIT)
    tuning_seed: int = parameter(SEED)
    spread_seeds: list[int] = parameter(partial(checks.check_int_list, low=0))
    n_per_digit: int = parameter(COUNT)
    n_judged: int = parameter(partial(checks.check_int, low=7))  # PRDC's k = 5: 5 neighbours + itself + 1
    iw_samples: int = parameter(COUNT)
    iw_images: int | None = parameter(partial(checks.check_int, low=1, high=N_TEST_IMAGES, optional=True))
    tsne_images: int = parameter(partial(checks.check_int, low=100, high=N_TEST_IMAGES))
    judge_epochs: int = parameter(COUNT)
    judge_dir: str | None = parameter(FOLDER, runs=("judges",))
    judge_min_accuracy: float | None = parameter(
        partial(checks.check_number, low=0, high=1, low_open=True, optional=True))
    eval_seed: int = parameter(SEED)
    second_judge_epochs: int = parameter(COUNT)
    cluster_starts: int = parameter(partial(checks.check_int, low=2))  # k-means starts behind the k = 10 metrics

    def check_relations(self) -> None:
        """Cluster counts within the training images; figures from the judged samples; tuning apart from reporting."""
        n_train = self.train_limit or N_TRAIN_IMAGES
        largest = max([*self.k_values, *self.sampler_clusters, self.mixture_components])
        if largest > n_train:
            raise ValueError(
                f"k_values, sampler_clusters and mixture_components must not exceed the training images "
                f"clustered ({n_train:,}, from train_limit), got {largest:,}; lower them or raise train_limit"
            )
        if self.n_per_digit > self.n_judged:
            raise ValueError(f"n_per_digit must be at most n_judged ({self.n_judged}), got {self.n_per_digit}: "
                             "the figures show the first n_per_digit of the judged samples")
        if self.tuning_seed in self.spread_seeds:
            raise ValueError(f"spread_seeds must not contain tuning_seed ({self.tuning_seed}): the spread of the "
                             "chosen sampler is measured on seeds the rule never saw")
        if self.tuning_seed == self.seed:
            raise ValueError(f"tuning_seed must differ from seed (both {self.seed}): the reported samples must "
                             "come from a seed the rule never saw")


@dataclass(frozen=True)
class ComparisonsConfig(StudyConfig):
    """Notebook 05: the course protocol, the training seeds, the conditional VAE, the second judge and copying."""

    notebook: ClassVar[str] = "05_comparisons"
    # None: leave the course protocol out
    comparison_run_dir: str | None = parameter(FOLDER, runs=("finished", "unconditional", "analysed"))
    seed_run_dirs: list[str] = parameter(checks.check_path_list,
                                         runs=("finished", "unconditional", "analysed"))
    cvae_run_dirs: list[str] = parameter(checks.check_path_list, runs=("finished", "conditional"))
    copying_cells: int = parameter(partial(checks.check_int, low=2))
    bootstrap_rounds: int = parameter(partial(checks.check_int, low=10))  # random halves behind the intervals
    n_per_digit: int = parameter(COUNT)
    iw_images: int | None = parameter(partial(checks.check_int, low=1, high=N_TEST_IMAGES, optional=True))
    eval_seed: int = parameter(SEED)


def _budget_list(name: str, value: Any) -> None:
    """Notebook 06's budgets: a non-empty list of labels per digit, each an integer >= 1 or None (all labels), once."""
    allowed = "a non-empty list of integers >= 1 or None (all labels), each once"
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")
    for item in value:
        checks.check_int(name, item, low=1, optional=True)
    if not value or len(set(value)) != len(value):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


@dataclass(frozen=True)
class LabelBudgetConfig(StudyConfig):
    """Notebook 06: the clusters named from a budget of labelled images per digit, beside the per-digit Gaussian,
    and the rule re-run under other clustering seeds (``seed``: k-means of the budget study)."""

    notebook: ClassVar[str] = "06_label_budget"
    budgets: list[int | None] = parameter(_budget_list)  # labels per digit; None: all of them
    subsets: int = parameter(COUNT)  # random labelled subsets per budget (seeds 0, 1, ...)
    n_judged: int = parameter(partial(checks.check_int, low=7))  # PRDC's k = 5: 5 neighbours + itself + 1
    # None: no conditional-VAE reference line
    cvae_run_dir: str | None = parameter(FOLDER, runs=("finished", "conditional", "analysed"))
    sampling_seed: int = parameter(SEED)  # the reported samples' seed (notebook 04's tuning seed chooses the rule)
    clustering_seeds: list[int] = parameter(partial(checks.check_int_list, low=0))  # the rule made again with each

    def check_relations(self) -> None:
        """The rule's re-run needs two clustering seeds at least (one has no spread), each once."""
        if len(self.clustering_seeds) < 2 or len(set(self.clustering_seeds)) != len(self.clustering_seeds):
            raise ValueError(f"clustering_seeds must be at least two different seeds, each once, got "
                             f"{self.clustering_seeds!r}: one seed has no spread")


@dataclass(frozen=True)
class ExploreConfig(NotebookConfig):
    """Notebook 07: the interactive explorer."""

    notebook: ClassVar[str] = "07_explore"
    seed: int = parameter(SEED)
    run_dir: str = parameter(PATH, runs=("finished", "analysed"))
    n_images: int = parameter(partial(checks.check_int, low=1, high=N_TEST_IMAGES))
    cvae_run_dir: str | None = parameter(FOLDER, runs=("finished", "conditional"))  # None: no conditional-VAE toggle


NOTEBOOK_CONFIGS: dict[str, type[NotebookConfig]] = {
    config.notebook: config
    for config in (DataConfig, ModelSummaryConfig, TrainNotebookConfig, LatentConfig, ComparisonsConfig,
                   LabelBudgetConfig, ExploreConfig)
}

# Names IPython itself puts into a notebook's globals (besides private ones such as _i1): never parameters.
IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})
# Set in the namespace by the first check that passes there: later checks look at values only.
CHECKED = "_parameters_checked"


def _injectable(value: Any) -> bool:
    """A value papermill can inject (-p, -r, -y): None, a bool, int, float or str, or a list, tuple or dict of them."""
    if value is None or type(value) in (bool, int, float, str):
        return True
    if isinstance(value, (list, tuple)):
        return all(_injectable(item) for item in value)
    if isinstance(value, dict):
        return all(_injectable(key) and _injectable(item) for key, item in value.items())
    return False


def _refuse_unknown(config: type[NotebookConfig], namespace: Mapping[str, Any]) -> None:
    """A -p name the notebook does not declare would be ignored: refuse it, with the closest declared name.

    papermill injects its cell right after the ``parameters`` cell, so at the first check the globals hold the
    parameters, the names papermill set, the modules imported so far and IPython's own names. A public name holding
    a plain literal that is no parameter can only have come from papermill (or a typo in the ``parameters`` cell).
    """
    declared = config.parameter_names()
    for name, value in namespace.items():
        if (name in declared or name.startswith("_") or name in IPYTHON_NAMES
                or isinstance(value, types.ModuleType) or not _injectable(value)):
            continue
        guess = difflib.get_close_matches(name, declared, n=1)
        hint = f"did you mean {guess[0]!r}? " if guess else ""
        raise ValueError(
            f"{name} is not a parameter of {config.notebook}: {hint}It would be ignored and the notebook would run "
            f"on its defaults. Its parameters are: {', '.join(declared)}"
        )


def check_parameters(notebook: str, namespace: MutableMapping[str, Any]) -> NotebookConfig:
    """Check every parameter of ``notebook`` (e.g. '03_train') in ``namespace`` (its ``globals()``); return its config.

    Called in the cell right after ``parameters``, so a missing (NameError), unknown or misspelled (ValueError, with
    the closest name) or bad (TypeError, ValueError) parameter fails in seconds, before any data is loaded or any
    file is written. Unknown names are looked for until a check passes in ``namespace``; that check marks it, so
    re-running the cell in JupyterLab, after later cells defined names of their own, checks the values only.
    """
    if notebook not in NOTEBOOK_CONFIGS:
        raise ValueError(f"notebook must be one of {sorted(NOTEBOOK_CONFIGS)}, got {notebook!r}")
    config = NOTEBOOK_CONFIGS[notebook]
    config.require(namespace)
    if CHECKED not in namespace:
        _refuse_unknown(config, namespace)
    checked = config.from_parameters(namespace)
    namespace[CHECKED] = notebook
    return checked


# What a run folder named by a parameter must be, and how to check it (each reads a small file of the folder).
RUN_NEEDS: dict[str, tuple[Callable[[RunFolder], bool], str]] = {
    "finished": (lambda run: run.finished,
                 "a run whose training has finished (train it with notebooks/03_train.ipynb, or let it finish)"),
    "analysed": (lambda run: run.has(RunFolder.LATENT_METRICS),
                 "a run analysed by notebooks/04_latent_space.ipynb (make report analyses every finished run)"),
    "conditional": (lambda run: run.read_metrics()["config"].get("model_name") == "cvae",
                    "a conditional VAE's run (model_name='cvae')"),
    "unconditional": (lambda run: run.read_metrics()["config"].get("model_name", "vae") == "vae",
                      "a run of the unconditional VAE (model_name='vae')"),
    "judges": (lambda run: run.has_judge() and run.has_judge(RunFolder.SECOND_JUDGE),
               "a run folder holding both judges (the main run after notebook 04)"),
}


def check_run_folders(config: NotebookConfig) -> None:
    """Every run folder a parameter names exists and is of the kind the notebook needs (finished, analysed,
    conditional or not), checked in seconds before any heavy work; a refusal names the parameter, the folder and
    what it must be."""
    for item in fields(config):
        needs = item.metadata.get("runs", ())
        value = getattr(config, item.name)
        folders = [] if value is None or not needs else value if isinstance(value, (list, tuple)) else [value]
        for folder in folders:
            run = RunFolder(folder)
            if not run.path.is_dir():
                raise FileNotFoundError(f"{item.name} names '{run.shown}', which does not exist: give the folder "
                                        f"of {RUN_NEEDS[needs[0]][1]}")
            for need in needs:
                test, what = RUN_NEEDS[need]
                if not test(run):
                    raise ValueError(f"{item.name} names '{run.shown}', which is not {what}; "
                                     f"{config.notebook} needs {what.split(' (')[0]} there")
