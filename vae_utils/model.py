"""The course report's convolutional VAE, its conditional twin, the loss (the negative ELBO) and small model helpers.

Layer for layer the torchsummary table of the course report; ``vae_loss`` names the ELBO's two terms.
``ConditionalVAE`` is the same network given the digit's label (Sohn et al. 2015; Kingma et al. 2014, M2).
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Iterator, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .data import IMAGE_SHAPE, N_DIGITS

__all__ = [
    "MODELS", "VAE", "ConditionalVAE", "Conv2d", "ConvTranspose2d", "LossTerms", "build_model", "condition",
    "count_parameters",
    "forward_pass", "kl_divergence", "summary_text", "vae_loss",
]


def _single_window(layer: nn.Conv2d, x: torch.Tensor) -> tuple[int, int] | None:
    """Padding (rows, cols) when a convolution sees its whole input in one window, else None.

    Then every output element is a dot product with the same weights, so the layer is
    exactly one matrix product over the kernel taps that land on the input.
    """
    (h, w), (kh, kw), (ph, pw) = x.shape[-2:], layer.kernel_size, layer.padding
    one_window = (h + 2 * ph - kh) // layer.stride[0] == 0 and (w + 2 * pw - kw) // layer.stride[1] == 0
    plain = layer.groups == 1 and layer.dilation == (1, 1)
    fits = ph + h <= kh and pw + w <= kw
    return (ph, pw) if one_window and plain and fits and layer.padding_mode == "zeros" else None


# Why these two classes exist: on the CPU, oneDNN's convolution is several times
# slower than a matrix product for the degenerate shapes 3x3 -> 1x1 (Conv2d-7) and
# 1x1 -> 3x3 (ConvTranspose2d-14), and about three times slower than a matrix product
# and ``F.fold`` for the last layer's single output channel (ConvTranspose2d-20, the
# decoder's costliest layer in the likelihood estimate). They compute the same function
# with the same parameters, keep the stock class names so torchsummary prints the course
# report's rows, and tests/test_model.py checks outputs and gradients against nn's.


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that computes a single-window convolution (3x3 -> 1x1) as one ``F.linear``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Matrix product over the kernel taps that land on the input, else the ordinary convolution."""
        pad = _single_window(self, x) if x.dim() == 4 else None
        if pad is None:
            return super().forward(x)
        (ph, pw), (h, w) = pad, x.shape[-2:]
        weight = self.weight[:, :, ph : ph + h, pw : pw + w].reshape(self.out_channels, -1)
        return F.linear(x.reshape(len(x), -1), weight, self.bias).view(len(x), self.out_channels, 1, 1)


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` that computes a 1x1 input (1x1 -> kxk) as one matrix product, and a single output
    channel as a matrix product whose kernel-sized columns ``F.fold`` sums into the output image."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        """Matrix product for an unpadded 1x1 input or one output channel, else the ordinary transposed convolution."""
        simple = (output_size is None and x.dim() == 4 and self.groups == 1 and self.dilation == (1, 1)
                  and self.output_padding == (0, 0) and self.padding_mode == "zeros")
        if simple and x.shape[-2:] == (1, 1) and self.padding == (0, 0):
            out = (x.reshape(len(x), -1) @ self.weight.reshape(self.in_channels, -1)).view(
                len(x), self.out_channels, *self.kernel_size
            )
        elif simple and self.out_channels == 1:
            out = self._folded(x)
        else:
            return super().forward(x, output_size)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)

    def _folded(self, x: torch.Tensor) -> torch.Tensor:
        """The transposed convolution as col2im: each input pixel's kernel-sized patch (weights times its
        channels), summed where patches overlap by ``F.fold``; no bias."""
        n, c, h, w = x.shape
        size = [(length - 1) * stride - 2 * pad + kernel for length, stride, pad, kernel
                in zip((h, w), self.stride, self.padding, self.kernel_size)]
        columns = self.weight.reshape(c, -1).t() @ x.reshape(n, c, h * w)  # [n, out * kh * kw, h * w]
        return F.fold(columns, size, self.kernel_size, stride=self.stride, padding=self.padding)


class VAE(nn.Module):
    """The course report's convolutional VAE: 1,234,143 parameters for z_dim=15.

    Encoder: four 4x4 stride-2 convolutions, 28 -> 14 -> 7 -> 3 -> 1 pixels with
    32/64/128/256 channels, then one Linear giving the mean and log-variance of
    q(z|x). Decoder: Linear to 256, Unflatten, ReLU, then transposed convolutions
    1 -> 3 -> 7 -> 14 -> 28 (kernels 3, 5, 4, 4). It returns logits;
    ``torch.sigmoid(logits)`` gives the Bernoulli pixel probabilities.
    """

    conditional = False  # the ConditionalVAE below is also given each image's digit

    def __init__(self, z_dim: int = 15):
        super().__init__()
        self.z_dim = z_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(inplace=True),  # 28 -> 14
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(inplace=True),  # 14 -> 7
            nn.Conv2d(64, 128, 4, 2, 1), nn.ReLU(inplace=True),  # 7 -> 3
            Conv2d(128, 256, 4, 2, 1), nn.ReLU(inplace=True),  # 3 -> 1, a matrix product
            nn.Flatten(),
            nn.Linear(256, 2 * z_dim),  # mean and log-variance
        )
        self.decoder = nn.Sequential(
            nn.Linear(z_dim, 256),
            nn.Unflatten(1, (256, 1, 1)), nn.ReLU(inplace=True),
            ConvTranspose2d(256, 128, 3), nn.ReLU(inplace=True),  # 1 -> 3, a matrix product
            nn.ConvTranspose2d(128, 64, 5, 2, 1), nn.ReLU(inplace=True),  # 3 -> 7
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(inplace=True),  # 7 -> 14
            ConvTranspose2d(32, 1, 4, 2, 1),  # 14 -> 28, logits; one channel: a matrix product and a fold
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the mean and log-variance of the Gaussian q(z|x)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I), so gradients flow through mu and sigma."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Map latent codes to pixel logits of shape [N, 1, 28, 28]."""
        return self.decoder(z)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode, sample z once, decode: returns (logits, mu, logvar)."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode(z), mu, logvar


class ConditionalVAE(VAE):
    """The course report's network given the digit's label: q(z|x, y) and p(x|z, y), 1,237,003 parameters for z_dim=15.

    The label enters as a one-hot vector where the literature's fully connected conditional VAEs feed it
    (Kingma et al. 2014, M2; Sohn et al. 2015): concatenated to the encoder's last hidden layer, so that the
    256 convolutional features and y give the mean and log-variance, and concatenated to z at the decoder's
    input. The convolutions are the unconditional VAE's, unchanged; the two Linear layers grow by 10 inputs
    each (+300 and +2,560 weights). The prior stays N(0, I): a digit is drawn as decode(z, y) with z ~ N(0, I).
    """

    conditional = True

    def __init__(self, z_dim: int = 15, n_classes: int = N_DIGITS):
        super().__init__(z_dim)
        self.n_classes = n_classes
        self.encoder[-1] = nn.Linear(256 + n_classes, 2 * z_dim)  # [features, one-hot y] -> mean, log-variance
        self.decoder[0] = nn.Linear(z_dim + n_classes, 256)  # [z, one-hot y] -> 256

    def _one_hot(self, labels: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Labels [N] as one-hot rows in ``like``'s dtype and device, refusing a label outside 0..n_classes-1."""
        labels = labels.to(like.device).long()
        if labels.dim() != 1 or len(labels) != len(like):
            raise ValueError(f"the conditional VAE needs one label per image: got labels of shape "
                             f"{list(labels.shape)} for {len(like)} images")
        if len(labels) and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise ValueError(f"labels must be digits 0-{self.n_classes - 1}, got values from "
                             f"{int(labels.min())} to {int(labels.max())}")
        return F.one_hot(labels, self.n_classes).to(like.dtype)

    def encode(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        """Mean and log-variance of q(z|x, y): the convolutional features of x, then y beside them."""
        features = self.encoder[:-1](x)
        mu, logvar = self.encoder[-1](torch.cat([features, self._one_hot(labels, features)], dim=1)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Pixel logits of p(x|z, y) for latent codes ``z`` and digits ``labels``."""
        return self.decoder(torch.cat([z, self._one_hot(labels, z)], dim=1))

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode with the label, sample z once, decode with the label: returns (logits, mu, logvar)."""
        mu, logvar = self.encode(x, labels)
        z = self.reparameterize(mu, logvar, generator)
        return self.decode(z, labels), mu, logvar


# The models a run can train, by the name notebook 03's ``model`` parameter takes.
MODELS: dict[str, type[VAE]] = {"vae": VAE, "cvae": ConditionalVAE}


def build_model(name: str, z_dim: int) -> VAE:
    """A new model by its name in ``MODELS``; an unknown name is refused with the known ones listed."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: use one of {', '.join(repr(known) for known in MODELS)}")
    return MODELS[name](z_dim)


def condition(model: VAE, labels: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """The extra arguments of ``encode``/``decode``/``forward``: ``(labels,)`` for the conditional VAE, else ``()``.

    So one call site serves both models: ``model.decode(z, *condition(model, labels))``.
    """
    if not model.conditional:
        return ()
    if labels is None:
        raise ValueError("the conditional VAE needs the images' labels: pass the labelled split, not images alone")
    return (labels,)


def forward_pass(
    model: VAE, images: torch.Tensor, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, mu, logvar) of one pass; the conditional model is given the images' labels, the VAE ignores them."""
    return model(images, *condition(model, labels), generator=generator)


class LossTerms(NamedTuple):
    """Batch sums of the two ELBO terms and their total (all in nats)."""

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per image and latent dimension, in closed form (shape of mu)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def vae_loss(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> LossTerms:
    """Negative ELBO of a batch: Bernoulli reconstruction (BCE with logits) plus KL, summed.

    Sums over pixels, latent dimensions and images as in the course report (its
    learning rate was tuned for a summed loss); divide by the batch size for nats
    per image.
    """
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = kl_divergence(mu, logvar).sum()
    return LossTerms(recon + kl, recon, kl)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Switch ``model`` to eval mode without autograd for the block, then restore its previous mode.

    ``inference_mode`` rather than ``no_grad``: it also skips autograd's version counters, which
    makes the analysis' many small forward passes measurably faster.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield model
    finally:
        model.train(was_training)


def model_device(model: nn.Module) -> torch.device:
    """The device the model's weights live on (inputs must follow them there)."""
    return next(model.parameters()).device


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def summary_text(model: nn.Module, input_size: tuple[int, ...] = IMAGE_SHAPE) -> str:
    """The text that ``torchsummary.summary`` prints for ``model`` (run on a CPU copy)."""
    from torchsummary import summary

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        summary(copy.deepcopy(model).cpu(), input_size, device="cpu")
    return buffer.getvalue()
