"""The MNIST VAE of the course report and its analysis: one module per concern, in the order data flows.

paths -> keys -> data -> model -> checks -> config -> runtime -> run -> training -> curves -> latent -> sampling
-> label_samplers -> judge -> second_judge -> selection -> baselines -> generation -> comparisons -> label_budget
-> copying -> uncertainty -> seeds -> explore -> formatting -> tables -> plots.
Notebooks ``import vae_utils as vu`` and call the names below; everything else is reachable as
``vae_utils.<module>.<name>`` (importing a name imports its module). The report's build machinery is the
package ``report_tools`` beside this one; nothing here imports it.
"""

from .paths import figures_dir, MAIN_RUN_DIR  # where files live
from .data import class_shares, intensity_shares, load_mnist, MNISTTensors, train_val_split  # MNIST
from .model import build_model, ConditionalVAE, summary_text, VAE  # the network and the ELBO
from .config import check_parameters, check_run_folders, TrainConfig  # each notebook's parameters, checked at the door
from .runtime import resolve_device  # the device
from .run import RunFolder  # the run folder
from .training import evaluate, train, train_or_reuse, training_metrics  # training
from .curves import (  # training curves and early stopping
    compare_with_log, early_stopping_evidence, load_protocol_run, read_course_log,
)
from .latent import (  # the latent space
    active_units, cluster_sweep, digit_means, encode_gaussian, encode_means, evaluate_clusters, fit_cluster_family,
    fit_clusters, kept_importance_weighted_nll, kl_per_dimension, latent_interpolation, latent_traversal, project_pca,
    project_tsne,
)
from .sampling import (  # per-digit samplers
    build_samplers, ConditionalPriorSampler, DigitSampler, fit_cluster_sampler, fit_mixture, load_saved_samplers,
    Sampler, save_samplers,
)
from .label_samplers import (  # samplers from few labels
    choose_mixture_components, per_digit_gaussian_sampler, per_digit_mixture_sampler,
)
from .judge import (  # the judge and generation quality
    classify, judge_pass, kept_judge_features, load_or_train_judge, real_features,
)
from .second_judge import judge_agreement, second_opinion  # the second judge
from .selection import choice_and_report_sets, choose_sampler, latent_results, seed_spread  # choosing a sampler
from .baselines import reconstructions_by_digit  # the conditional VAE and reconstructions
from .generation import (  # notebook 04's generation steps, and the choice under other clustering seeds
    candidate_samplers, draw_chosen, load_judges, rule_over_clustering_seeds, score_references,
)
from .comparisons import (  # notebook 05: the main analysis read back, the conditional VAE runs
    analyse_conditional_runs, comparison_results, family_curves, family_runs, matched_recall, read_main_analysis,
)
from .label_budget import (  # notebook 06: digits on demand from a budget of labels
    budget_study, BudgetStudy, choose_naming_rule, label_budget_results, prepare_study, sufficiency_text,
)
from .copying import copying_positive_control, CopyingCase, data_copying  # the data-copying test
from .uncertainty import (  # bootstrap intervals and sensitivity
    bootstrap_generation_quality, clustering_over_starts, clustering_starts_summary, rule_stability,
)
from .seeds import fixed_epoch_losses, load_seed_runs, seed_losses, seed_results  # runs of the main protocol
from .explore import open_explorer  # the interactive explorer
from .tables import (  # tables
    comparison_table, course_report_comparison, early_stopping_table, judges_table, k_sweep_table, key_rows,
    layer_table, likelihood_table, log_agreement_table, loss_table, parameter_counts, protocol_table,
    quality_summary_table, quality_table, sampler_table, shape_walkthrough, show_table, split_summary, spread_table,
    training_details_table,
)
from .comparison_tables import (  # tables of the comparisons
    agreement_table, bootstrap_table, budget_table, conditional_runs_table, copying_table, digit_comparison_table,
    fixed_epoch_table, matched_recall_table, naming_table, patience_table, rule_seeds_table, rule_table,
    sampling_spread_table, seed_generation_table, seed_report_table, source_summary_table,
)
from .printsize import save_and_show  # saving figures
from .plots import (  # figures of data, training and latent space
    plot_class_balance, plot_confusion, plot_course_protocol, plot_examples_per_digit, plot_image_grid,
    plot_intensity_histogram, plot_k_sweep, plot_kl_per_dimension, plot_latent_projection, plot_loss_curves,
    plot_mean_images, plot_reconstructions, plot_seed_band, plot_traversal,
)
from .plots_generation import (  # figures of generated digits
    plot_family_curves, plot_generated_confusion, plot_judged_accuracy, plot_nearest_copies, plot_rejected_samples,
    plot_side_by_side, plot_tradeoff,
)
from .plots_budget import plot_label_budget  # the label-budget figure

__all__ = [
    "active_units", "agreement_table", "analyse_conditional_runs", "bootstrap_generation_quality", "bootstrap_table",
    "budget_study", "budget_table", "BudgetStudy", "build_model", "build_samplers", "candidate_samplers",
    "check_parameters", "check_run_folders", "choice_and_report_sets", "choose_mixture_components",
    "choose_naming_rule", "choose_sampler", "class_shares", "classify", "cluster_sweep", "clustering_over_starts",
    "clustering_starts_summary", "compare_with_log", "comparison_results", "comparison_table", "conditional_runs_table",
    "ConditionalPriorSampler", "ConditionalVAE", "copying_positive_control", "copying_table", "CopyingCase",
    "course_report_comparison", "data_copying", "digit_comparison_table", "digit_means", "DigitSampler", "draw_chosen",
    "early_stopping_evidence", "early_stopping_table", "encode_gaussian", "encode_means", "evaluate",
    "evaluate_clusters", "family_curves", "family_runs", "figures_dir", "fit_cluster_family", "fit_cluster_sampler",
    "fit_clusters", "fit_mixture", "fixed_epoch_losses", "fixed_epoch_table", "intensity_shares", "judge_agreement",
    "judge_pass", "judges_table", "k_sweep_table", "kept_importance_weighted_nll", "kept_judge_features", "key_rows",
    "kl_per_dimension", "label_budget_results", "latent_interpolation", "latent_results", "latent_traversal",
    "layer_table", "likelihood_table", "load_judges", "load_mnist", "load_or_train_judge", "load_protocol_run",
    "load_saved_samplers", "load_seed_runs", "log_agreement_table", "loss_table", "MAIN_RUN_DIR", "matched_recall",
    "matched_recall_table", "MNISTTensors", "naming_table", "open_explorer", "parameter_counts", "patience_table",
    "per_digit_gaussian_sampler", "per_digit_mixture_sampler", "plot_class_balance", "plot_confusion",
    "plot_course_protocol", "plot_examples_per_digit", "plot_family_curves", "plot_generated_confusion",
    "plot_image_grid", "plot_intensity_histogram", "plot_judged_accuracy", "plot_k_sweep", "plot_kl_per_dimension",
    "plot_label_budget", "plot_latent_projection", "plot_loss_curves", "plot_mean_images", "plot_nearest_copies",
    "plot_reconstructions", "plot_rejected_samples", "plot_seed_band", "plot_side_by_side", "plot_tradeoff",
    "plot_traversal", "prepare_study", "project_pca", "project_tsne", "protocol_table", "quality_summary_table",
    "quality_table", "read_course_log", "read_main_analysis", "real_features", "reconstructions_by_digit",
    "resolve_device", "rule_over_clustering_seeds", "rule_seeds_table", "rule_stability", "rule_table", "RunFolder",
    "Sampler", "sampler_table", "sampling_spread_table", "save_and_show", "save_samplers", "score_references",
    "second_opinion", "seed_generation_table", "seed_losses", "seed_report_table", "seed_results", "seed_spread",
    "shape_walkthrough", "show_table", "source_summary_table", "split_summary", "spread_table", "sufficiency_text",
    "summary_text", "train", "train_or_reuse", "train_val_split", "TrainConfig", "training_details_table",
    "training_metrics", "VAE"
]
