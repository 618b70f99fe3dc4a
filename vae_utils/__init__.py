"""Shared logic of the MNIST VAE course report: one module per concern, in the order data flows.

paths -> data -> checks -> model -> runtime -> checkpoint -> training -> latent -> sampling -> judge -> plots
-> report. Notebooks, tests and the benchmark only ever ``import vae_utils as vu``; the public names are
re-exported here, so ``vu.name`` works for all of them (the design card's ``vae_utils.py`` is now this package).
"""

from .paths import (
    PROJECT_ROOT, LAST_CHECKPOINT, BEST_CHECKPOINT, WEIGHTS_FILE, HISTORY_FILE, METRICS_FILE, JUDGE_FILE,
    LATENT_METRICS_FILE, GENERATED_FILE, project_path, display_path, atomic_path, write_bytes, write_json,
    read_json, figures_dir,
)
from .data import (
    N_DIGITS, IMAGE_SHAPE, DATA_DIR_ENV, DEFAULT_DATA_DIR, MNIST_FILES, N_TRAIN_IMAGES, N_TEST_IMAGES,
    MNISTDataError, MNISTTensors, resolve_data_dir, load_mnist, train_val_split, batched, shuffled_batches,
    to_images,
)
from .checks import (
    check_parameters,
)
from .model import (
    Conv2d, ConvTranspose2d, VAE, LossTerms, kl_divergence, vae_loss, eval_mode, model_device,
    count_parameters, summary_text,
)
from .runtime import (
    resolve_device, set_seed, tune_cpu_runtime, to_memory_format, environment_info,
)
from .checkpoint import (
    CHECKPOINT_FORMAT, EARLY_STOP_PREFIX, CheckpointError, TrainingState, is_final_stop, load_payload,
    architecture, check_architecture, save_checkpoint, load_checkpoint, state_from_payload,
    restore_training_state, update_checkpoint_fields, model_from_payload, load_model, resolve_checkpoint,
    export_weights, load_module_weights, HISTORY_COLUMNS, history_frame, write_history, check_history_file,
    load_trained_run,
)
from .training import (
    TrainConfig, SESSION_FIELDS, config_differences, make_optimizer, minibatches, train_step, evaluate,
    TrainResult, train, plan_training, train_or_reuse, training_metrics, early_stopping_step, early_stop_reason,
)
from .latent import (
    LOG_2PI, encode_gaussian, encode_means, decode_probabilities, label_clusters, hungarian_accuracy,
    clustering_metrics, ClusterFit, fit_clusters, evaluate_clusters, cluster_sweep, project_pca, project_tsne,
    digit_means, kl_per_dimension, active_units, importance_weighted_nll, latent_interpolation,
    latent_traversal,
)
from .sampling import (
    DigitSampler, PriorSampler, cluster_purity, fit_cluster_sampler, fit_mixture, mixture_sampler,
    sample_latents, generate_digits, save_generated, load_generated, build_samplers,
)
from .judge import (
    JUDGE_FORMAT, PRDC_NEAREST_K, DigitClassifier, train_classifier, classify, judge_features,
    classifier_accuracy, load_or_train_classifier, judge_generated, judged_summary, prdc, frechet_distance,
    RealFeatures, real_features, generation_quality, real_digits, summarise_quality, compare_samplers,
    choose_operating_point,
)
from .plots import (
    FIGURE_DPI, TARGET_ACCURACY, save_and_show, plot_class_balance, plot_examples_per_digit, plot_mean_images,
    plot_intensity_histogram, plot_image_grid, plot_loss_curves, plot_reconstructions, plot_digit_grid,
    plot_confusion, plot_judged_accuracy, plot_latent_projection, plot_traversal, plot_kl_per_dimension,
    plot_k_sweep, plot_tradeoff, plot_side_by_side,
)
from .report import (
    METRIC_NAMES, QUALITY_NAMES, format_table, table_latex, show_table, show_markdown, split_summary,
    layer_table, parameter_counts, shape_walkthrough, training_details_table, loss_table, metrics_frame,
    quality_table, comparison_table, quality_summary_table, likelihood_table, course_report_comparison,
    conclusion,
)

__all__ = [
    "PROJECT_ROOT", "LAST_CHECKPOINT", "BEST_CHECKPOINT", "WEIGHTS_FILE", "HISTORY_FILE", "METRICS_FILE",
    "JUDGE_FILE", "LATENT_METRICS_FILE", "GENERATED_FILE", "project_path", "display_path", "atomic_path",
    "write_bytes", "write_json", "read_json", "figures_dir", "N_DIGITS", "IMAGE_SHAPE", "DATA_DIR_ENV",
    "DEFAULT_DATA_DIR", "MNIST_FILES", "N_TRAIN_IMAGES", "N_TEST_IMAGES", "MNISTDataError", "MNISTTensors",
    "resolve_data_dir", "load_mnist", "train_val_split", "batched", "shuffled_batches", "to_images",
    "check_parameters", "Conv2d", "ConvTranspose2d", "VAE", "LossTerms", "kl_divergence", "vae_loss",
    "eval_mode", "model_device", "count_parameters", "summary_text", "resolve_device", "set_seed",
    "tune_cpu_runtime", "to_memory_format", "environment_info", "CHECKPOINT_FORMAT", "EARLY_STOP_PREFIX",
    "CheckpointError", "TrainingState", "is_final_stop", "load_payload", "architecture", "check_architecture",
    "save_checkpoint", "load_checkpoint", "state_from_payload", "restore_training_state",
    "update_checkpoint_fields", "model_from_payload", "load_model", "resolve_checkpoint", "export_weights",
    "load_module_weights", "HISTORY_COLUMNS", "history_frame", "write_history", "check_history_file",
    "load_trained_run", "TrainConfig", "SESSION_FIELDS", "config_differences", "make_optimizer",
    "minibatches", "train_step", "evaluate", "TrainResult", "early_stopping_step", "early_stop_reason", "train", "plan_training", "train_or_reuse",
    "training_metrics", "LOG_2PI", "encode_gaussian", "encode_means", "decode_probabilities",
    "label_clusters", "hungarian_accuracy", "clustering_metrics", "ClusterFit", "fit_clusters",
    "evaluate_clusters", "cluster_sweep", "project_pca", "project_tsne", "digit_means", "kl_per_dimension",
    "active_units", "importance_weighted_nll", "latent_interpolation", "latent_traversal", "DigitSampler",
    "PriorSampler", "cluster_purity", "fit_cluster_sampler", "fit_mixture", "mixture_sampler",
    "sample_latents", "generate_digits", "save_generated", "load_generated", "build_samplers", "JUDGE_FORMAT",
    "PRDC_NEAREST_K", "DigitClassifier", "train_classifier", "classify", "judge_features",
    "classifier_accuracy", "load_or_train_classifier", "judge_generated", "judged_summary", "prdc",
    "frechet_distance", "RealFeatures", "real_features", "generation_quality", "real_digits",
    "summarise_quality", "compare_samplers", "choose_operating_point", "FIGURE_DPI", "TARGET_ACCURACY",
    "save_and_show", "plot_class_balance", "plot_examples_per_digit", "plot_mean_images",
    "plot_intensity_histogram", "plot_image_grid", "plot_loss_curves", "plot_reconstructions",
    "plot_digit_grid", "plot_confusion", "plot_judged_accuracy", "plot_latent_projection", "plot_traversal",
    "plot_kl_per_dimension", "plot_k_sweep", "plot_tradeoff", "plot_side_by_side", "METRIC_NAMES",
    "QUALITY_NAMES", "format_table", "table_latex", "show_table", "show_markdown", "split_summary",
    "layer_table", "parameter_counts", "shape_walkthrough", "training_details_table", "loss_table",
    "metrics_frame", "quality_table", "comparison_table", "quality_summary_table", "likelihood_table",
    "course_report_comparison", "conclusion",
]
