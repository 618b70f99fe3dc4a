"""Training throughput: the project's loop against the course report's DataLoader loop.

Both loops train the same VAE with the same Adam settings at batch 128 on one device,
each in a fresh process of its own (started by this script), so that neither inherits
the other's heap, thread pools or runtime settings: the course report's loop runs under
the default runtime, the project's with its CPU runtime settings
(``vae_utils.tune_cpu_runtime``), as ``vae_utils.train`` runs it. Each loop is warmed
up, then timed over several rounds; medians and ratios are printed.

    python benchmarks/train_throughput.py [--batches 100] [--rounds 3] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Callable, Iterator

import torch

import vae_utils as vu


def course_report_batches(batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """The course report's input pipeline: a DataLoader over PIL images converted by ToTensor."""
    from torchvision import datasets, transforms

    root = vu.data.ensure_mnist(train=True)  # the project's message, not torchvision's, when MNIST is missing
    dataset = datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
    generator = torch.Generator().manual_seed(seed)
    while True:
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)
        for images, _ in loader:
            yield images


def course_report_model() -> vu.VAE:
    """The course report's model: the same layers and weights, built from stock torch.nn classes only.

    The project's VAE computes its two single-window (transposed) convolutions as
    matrix products and uses in-place ReLUs; the course report used stock layers throughout.
    """
    model = vu.VAE()
    for layer in [*model.encoder, *model.decoder]:
        if type(layer) in (vu.model.Conv2d, vu.model.ConvTranspose2d):
            layer.__class__ = type(layer).__bases__[0]  # same parameters, stock forward
        if isinstance(layer, torch.nn.ReLU):
            layer.inplace = False
    return model


def course_report_loop(device: torch.device, batch_size: int) -> Callable[[int], int]:
    """The course report's loop: stock model, plain Adam, batches from the DataLoader moved to the device."""
    torch.manual_seed(0)
    model = course_report_model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.99))
    batches = course_report_batches(batch_size, seed=0)

    def run(n_batches: int) -> int:
        images = 0
        for _ in range(n_batches):
            x = next(batches).to(device)
            logits, mu, logvar = model(x)
            loss = vu.model.vae_loss(logits, x, mu, logvar).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            images += len(x)
        return images

    return run


def project_loop(
    device: torch.device, batch_size: int, compile_model: bool = False
) -> Callable[[int], int]:
    """The loop of ``vae_utils.train``: preloaded tensors, channels-last, fused Adam, the matrix-product
    layers of ``vae_utils.VAE`` and its in-place ReLUs, through the shared ``train_step``."""
    torch.manual_seed(0)
    config = vu.TrainConfig(batch_size=batch_size)
    model = vu.VAE().to(device).to(memory_format=torch.channels_last)
    optimizer = vu.training.make_optimizer(model, config, device)
    step_model = torch.compile(model) if compile_model else model
    images = vu.load_mnist(train=True).images.to(device)
    generator = torch.Generator().manual_seed(0)

    def batches() -> Iterator[torch.Tensor]:
        while True:
            for index in vu.data.shuffled_batches(len(images), batch_size, generator):  # as vu.train slices them
                yield images[index.to(images.device)]

    stream = batches()

    def run(n_batches: int) -> int:
        count = 0
        for _ in range(n_batches):
            batch = vu.runtime.to_memory_format(next(stream), True)
            vu.training.train_step(step_model, optimizer, batch)
            count += len(batch)
        return count

    return run


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(run: Callable[[int], int], n_batches: int, device: torch.device) -> float:
    """Images per second over ``n_batches`` steps (timed after the device has finished)."""
    _synchronize(device)
    start = time.perf_counter()
    images = run(n_batches)
    _synchronize(device)
    return images / (time.perf_counter() - start)


def time_loop(run: Callable[[int], int], args: argparse.Namespace, device: torch.device) -> list[float]:
    """Warm a loop up, then time it for ``args.rounds`` rounds of ``args.batches`` steps."""
    run(args.warmup)
    return [measure(run, args.batches, device) for _ in range(args.rounds)]


LOOPS = ["course report loop", "project loop", "project loop + torch.compile"]


def run_one_loop(name: str, args: argparse.Namespace) -> list[float]:
    """Time one loop in this process: the course report's under the default runtime, the project's as
    ``vae_utils.train`` runs it (CPU runtime settings, or cuDNN autotuning on a GPU)."""
    device = vu.resolve_device(args.device)
    if name == "course report loop":
        return time_loop(course_report_loop(device, args.batch_size), args, device)
    if device.type == "cpu":
        vu.runtime.tune_cpu_runtime()
    else:
        torch.backends.cudnn.benchmark = True
    return time_loop(project_loop(device, args.batch_size, compile_model="compile" in name), args, device)


def run_in_fresh_process(name: str, argv: list[str]) -> list[float]:
    """Each loop gets its own process, so none inherits another's heap, thread pools or runtime settings."""
    done = subprocess.run([sys.executable, __file__, *argv, "--only", name], check=True, capture_output=True,
                          text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Time the course report's loop, then the project loop(s), each in a fresh process; print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=50, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=30, help="untimed steps first (the DataLoader warms up slowly)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="also time the project loop under torch.compile")
    parser.add_argument("--only", choices=LOOPS, help=argparse.SUPPRESS)  # internal: one loop, rounds as JSON
    args = parser.parse_args()
    if args.only:
        print(json.dumps(run_one_loop(args.only, args)))
        return

    argv = [f"--batches={args.batches}", f"--rounds={args.rounds}", f"--warmup={args.warmup}",
            f"--batch-size={args.batch_size}", f"--device={args.device}"]
    results = {name: run_in_fresh_process(name, argv) for name in LOOPS[: 3 if args.compile else 2]}

    device = vu.resolve_device(args.device)
    info = vu.runtime.environment_info(device)
    print(f"device: {info['hardware']} ({device}), torch {info['torch']}, {info['torch_threads']} threads")
    print(f"batch {args.batch_size}, {args.rounds} rounds x {args.batches} steps, each loop in a fresh process, "
          "median images/s:")
    baseline = statistics.median(results["course report loop"])
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:32s} {median:10.0f} img/s   {median / baseline:5.2f}x   rounds: "
              + ", ".join(f"{v:.0f}" for v in values))


if __name__ == "__main__":
    main()
