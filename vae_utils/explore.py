"""The digit explorer of notebook 05: a trained run's model, samplers and judge behind four tabs of widgets.

Pictures are small PNGs drawn with PIL from codes encoded once at start, so every redraw is one decode.
"""

from __future__ import annotations

import base64
import io
import math
import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .data import N_DIGITS, load_mnist
from .judge import DigitClassifier, classify
from .latent import active_units, decode_probabilities, encode_gaussian, kl_per_dimension
from .model import VAE
from .run import RunFolder
from .sampling import ConditionalPriorSampler, CoursePriorSampler, DigitSampler, Sampler, load_saved_samplers

__all__ = ["DigitExplorer", "open_explorer"]

N_SAMPLES = 5  # "five generated images for each digit", as in the course report
SCALE = 4  # 28 px -> 112 px: readable, yet a PNG of a row encodes in about a millisecond
SLIDER_RANGE = 4.0  # latent coordinates beyond 4 prior standard deviations decode to noise
GREEN, RED, GREY = (0, 120, 0), (190, 0, 0), (90, 90, 90)
FONT = ImageFont.load_default(size=12)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the explorer's small tensors on one thread: on a busy 2-core CPU, OpenMP's waiting made two 10-30x slower.

    Also a decorator (``@one_thread()``); the thread count is restored afterwards, so other cells keep theirs.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def picture_widget() -> widgets.Image:
    """An Image shown at its own size: a flex box would otherwise stretch it and blur the digits."""
    return widgets.Image(format="png", layout={"align_self": "flex-start", "flex": "0 0 auto"})


def to_png(image: Image.Image) -> bytes:
    """PNG bytes for ``widgets.Image``; fast compression, because the browser redraws on every slider step."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def render_panel(title: str, rows: Sequence[tuple[str, torch.Tensor, Sequence[tuple[str, tuple]]]],
                 scale: int = SCALE) -> Image.Image:
    """Rows of digits [n, 1, 28, 28] in [0, 1], each labelled on its left, with a coloured caption under each digit."""
    side, label_width, caption_height = 28 * scale, 90 if any(r[0] for r in rows) else 0, 16
    columns = max(len(images) for _, images, _ in rows)
    lines = title.split("\n")
    header = 8 + 15 * len(lines)
    width = max(label_width + columns * (side + 6) + 4, 8 + int(max(FONT.getlength(line) for line in lines)))
    image = Image.new("RGB", (width, header + len(rows) * (side + caption_height + 6)), "white")
    draw = ImageDraw.Draw(image)
    draw.multiline_text((4, 4), title, fill="black", font=FONT, spacing=3)
    for r, (label, images, captions) in enumerate(rows):
        top = header + r * (side + caption_height + 6)
        draw.text((4, top + side // 2 - 6), label, fill="black", font=FONT)
        pixels = (255 * (1 - images.detach().float().clamp(0, 1).reshape(-1, 28, 28).numpy())).astype(np.uint8)
        for c, digit in enumerate(pixels):  # dark ink on white, as on paper
            left = label_width + c * (side + 6)
            image.paste(Image.fromarray(digit).resize((side, side), Image.NEAREST), (left, top))
            text, colour = captions[c]
            draw.text((left + 2, top + side + 1), text, fill=colour, font=FONT)
    return image


def render_posterior(mu: np.ndarray, sigma: np.ndarray, order: np.ndarray, inactive: np.ndarray) -> Image.Image:
    """mu ± sigma of q(z|x) per dimension, in KL order, against the prior's ±1 band (grey); inactive rows in grey."""
    row, left, width = 13, 120, 320
    image = Image.new("RGB", (left + width + 10, 40 + row * len(order)), "white")
    draw = ImageDraw.Draw(image)
    draw.text((4, 4), "q(z|x): mu ± sigma per dimension (grey band: prior ±1)", fill="black", font=FONT)

    def x(value: float) -> float:
        return left + width * (np.clip(value, -SLIDER_RANGE, SLIDER_RANGE) + SLIDER_RANGE) / (2 * SLIDER_RANGE)

    bottom = 22 + row * len(order)
    draw.rectangle([x(-1), 20, x(1), bottom], fill=(232, 232, 232))
    for tick in range(-int(SLIDER_RANGE), int(SLIDER_RANGE) + 1, 2):
        draw.line([x(tick), 20, x(tick), bottom + 3], fill=GREY if tick == 0 else (200, 200, 200))
        draw.text((x(tick) - 4, bottom + 4), str(tick), fill=GREY, font=FONT)
    for i, dim in enumerate(order):
        y, colour = 22 + i * row + row // 2, GREY if inactive[dim] else "black"
        draw.text((4, y - 7), f"z{dim:<2d}" + (" inactive" if inactive[dim] else ""), fill=colour, font=FONT)
        draw.line([x(mu[dim] - sigma[dim]), y, x(mu[dim] + sigma[dim]), y], fill=colour, width=2)
        draw.ellipse([x(mu[dim]) - 3, y - 3, x(mu[dim]) + 3, y + 3], fill=colour)
    return image


def stack(images: Sequence[Image.Image]) -> Image.Image:
    """Place pictures one under the other (the static view of the four tabs)."""
    out = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images)), "white")
    top = 0
    for image in images:
        out.paste(image, (0, top))
        top += image.height
    return out


def heading(text: str, width: int) -> Image.Image:
    """A tab's name on a grey strip, so the static view reads like the tabs it stands for."""
    image = Image.new("RGB", (width, 20), (225, 225, 225))
    ImageDraw.Draw(image).text((4, 3), text, fill="black", font=ImageFont.load_default(size=14))
    return image


def component_responsibilities(sampler: DigitSampler, z: torch.Tensor) -> torch.Tensor:
    """p(component | z) [K] under the sampler's mixture; components with weight 0 (impure, unnamed) get 0."""
    diff = (z.reshape(1, -1) - sampler.means).unsqueeze(-1)  # [K, z, 1]
    whitened = torch.linalg.solve_triangular(sampler.cholesky, diff, upper=False).squeeze(-1)
    log_det = torch.log(torch.diagonal(sampler.cholesky, dim1=-2, dim2=-1)).sum(-1)
    log_joint = -0.5 * whitened.pow(2).sum(-1) - log_det + torch.log(sampler.weights)  # log 2pi cancels
    return torch.softmax(log_joint, dim=0)


def verdicts(judge: DigitClassifier, images: torch.Tensor, wanted: int | None) -> list[tuple[str, tuple]]:
    """The judge's digit for each image, green when it is ``wanted`` and red when not (grey with nothing wanted)."""
    found = classify(judge, images)
    return [(f"judge: {d}", GREY if wanted is None else GREEN if d == wanted else RED) for d in found]


class DigitExplorer:
    """Four tabs over one trained run: digits on demand, latent dimensions, interpolation, and encoding a test image.

    Everything costly (encoding the test images, KL per dimension, active units) happens once here, so a
    control's callback only decodes a handful of codes and draws a small PNG. Errors raised in a callback are
    shown in ``self.errors`` under the tabs rather than lost in the kernel's log.
    """

    @one_thread()
    def __init__(self, model: VAE, judge: DigitClassifier, samplers: Mapping[str, Sampler],
                 cluster_sampler: DigitSampler, temperature: float, images: torch.Tensor, labels: torch.Tensor,
                 seed: int = 0, conditional: VAE | None = None) -> None:
        self.model, self.judge, self.samplers, self.cluster_sampler = model, judge, dict(samplers), cluster_sampler
        self.conditional = conditional  # the conditional VAE, drawn beside the sampler when the toggle is on
        self.images, self.labels = images, np.asarray(labels)
        mu, logvar = encode_gaussian(model, images)
        self.mu, self.sigma = mu, torch.exp(0.5 * logvar)
        self.kl = kl_per_dimension(mu, logvar)
        self.order = np.argsort(-self.kl, kind="stable")  # most informative dimension first
        count, variance = active_units(mu.numpy())  # active: the `count` most varied (active_units owns the threshold)
        self.inactive = np.isin(np.arange(model.z_dim), np.argsort(-variance)[:count], invert=True)
        self.digit_means = torch.stack([self.mu[self.labels == d].mean(0) if (self.labels == d).any()
                                        else torch.zeros(model.z_dim) for d in range(N_DIGITS)])
        self.errors = widgets.Output()
        self._holding = False  # set while several sliders move at once, so that they redraw once
        self.tab = widgets.Tab(children=[self._digits_tab(temperature, seed), self._dimensions_tab(),
                                         self._interpolation_tab(), self._encode_tab(seed)])
        self.tab.titles = ("Digits on demand", "Latent dimensions", "Interpolation", "Encode an image")
        self.widget = widgets.VBox([self.tab, self.errors])
        self.redraw()

    # ----- the controls; each callback runs inside self.errors, where an exception is shown, not swallowed
    def _on_change(self, widget_list: Sequence[widgets.Widget], draw: Callable[[], None]) -> None:
        def callback(change: Any = None) -> None:
            # A slider echoes a value back from the browser with float noise (0.06 -> 0.0599...96): no move.
            moved = not isinstance(change, dict) or not isinstance(change.get("new"), float) \
                or not math.isclose(change["new"], change["old"], abs_tol=1e-9)
            if moved and not self._holding:
                with self.errors, one_thread():
                    draw()
        for widget in widget_list:
            widget.on_click(callback) if isinstance(widget, widgets.Button) else widget.observe(callback, "value")

    def _digits_tab(self, temperature: float, seed: int) -> widgets.Widget:
        self.digit = widgets.ToggleButtons(options=list(range(N_DIGITS)), value=7, description="digit",
                                           style={"button_width": "34px"})
        self.sampler = widgets.Dropdown(options=list(self.samplers), description="sampler",
                                        layout={"width": "560px"})
        self.temperature = widgets.FloatSlider(value=temperature, min=0.1, max=1.5, step=0.05,
                                               description="temperature", continuous_update=False,
                                               style={"description_width": "initial"})
        self.seed = widgets.IntText(value=seed, description="seed", layout={"width": "160px"})
        self.new_draw = widgets.Button(description="new draw", icon="refresh")
        self.new_draw.on_click(lambda _: setattr(self.seed, "value", self.seed.value + 1))  # a draw is a seed
        self.beside = widgets.Checkbox(
            value=False, indent=False, disabled=self.conditional is None,
            description="beside it: the conditional VAE (trained with the labels), same digit, T and seed"
            if self.conditional is not None else "no conditional VAE in this project yet (runs/cvae)",
            layout={"width": "560px"})
        self.digits_view = picture_widget()
        self._on_change([self.digit, self.sampler, self.temperature, self.seed, self.beside], self._draw_digits)
        controls = widgets.HBox([self.temperature, self.seed, self.new_draw])
        return widgets.VBox([self.digit, self.sampler, controls, self.beside, self.digits_view])

    def _dimensions_tab(self) -> widgets.Widget:
        self.start_from = widgets.ToggleButtons(options=["digit's mean code", "test image's code"],
                                                description="start from")
        self.start_digit = widgets.BoundedIntText(value=3, min=0, max=N_DIGITS - 1, description="digit",
                                                  layout={"width": "160px"})
        self.start_image = widgets.BoundedIntText(value=0, min=0, max=len(self.images) - 1,
                                                  description="test image #", layout={"width": "220px"},
                                                  style={"description_width": "initial"})
        self.reset = widgets.Button(description="reset", icon="undo")
        self.sliders = {int(d): widgets.FloatSlider(
            value=0.0, min=-SLIDER_RANGE, max=SLIDER_RANGE, step=0.01, readout_format=".2f",
            description=f"z{d} · KL {self.kl[d]:.2f}" + (" · inactive" if self.inactive[d] else ""),
            style={"description_width": "170px", "handle_color": "lightgray" if self.inactive[d] else None},
            layout={"width": "460px"}) for d in self.order}
        self.dimensions_view = picture_widget()
        self._on_change([self.start_from, self.start_digit, self.start_image, self.reset], self.reset_sliders)
        self._on_change(list(self.sliders.values()), self._draw_dimensions)
        return widgets.VBox([widgets.HBox([self.start_from, self.start_digit, self.start_image, self.reset]),
                             widgets.HBox([widgets.VBox(list(self.sliders.values())), self.dimensions_view])])

    def _interpolation_tab(self) -> widgets.Widget:
        index = dict(min=0, max=len(self.images) - 1, layout={"width": "200px"}, style={"description_width": "initial"})
        self.image_a = widgets.BoundedIntText(value=0, description="from test #", **index)
        self.image_b = widgets.BoundedIntText(value=min(1, len(self.images) - 1), description="to test #", **index)
        self.steps = widgets.IntSlider(value=8, min=3, max=12, description="steps", continuous_update=False)
        self.interpolation_view = picture_widget()
        self._on_change([self.image_a, self.image_b, self.steps], self._draw_interpolation)
        return widgets.VBox([widgets.HBox([self.image_a, self.image_b, self.steps]), self.interpolation_view])

    def _encode_tab(self, seed: int) -> widgets.Widget:
        self.encode_image = widgets.BoundedIntText(value=0, min=0, max=len(self.images) - 1,
                                                   description="test image #", layout={"width": "220px"},
                                                   style={"description_width": "initial"})
        self.encode_seed = widgets.IntText(value=seed, description="seed", layout={"width": "160px"})
        self.encode_view = picture_widget()
        self._on_change([self.encode_image, self.encode_seed], self._draw_encoding)
        return widgets.VBox([widgets.HBox([self.encode_image, self.encode_seed]), self.encode_view])

    # ----- the pictures
    def start_code(self) -> torch.Tensor:
        """The code the latent-dimension sliders start from: a digit's mean test code or one test image's code."""
        if self.start_from.index == 0:
            return self.digit_means[self.start_digit.value]
        return self.mu[self.start_image.value]

    def reset_sliders(self) -> None:
        """Put every slider back on the start code, redrawing once rather than once per slider."""
        start = self.start_code().clamp(-SLIDER_RANGE, SLIDER_RANGE)
        self._holding = True
        try:
            for dim, slider in self.sliders.items():
                slider.value = round(float(start[dim]), 2)
        finally:
            self._holding = False
        self._draw_dimensions()

    def picture_digits(self) -> Image.Image:
        """Five samples of the chosen digit from the chosen sampler, each with the judge's verdict; with the toggle
        on, five from the conditional VAE below them (the same digit, temperature and seed)."""
        digit, sampler = self.digit.value, self.samplers[self.sampler.value]
        z = sampler.sample(digit, N_SAMPLES, torch.Generator().manual_seed(self.seed.value), self.temperature.value)
        images = decode_probabilities(self.model, z)
        captions = verdicts(self.judge, images, digit)
        right = sum(colour == GREEN for _, colour in captions)
        title = (f"{self.sampler.value}\ndigit {digit}, T = {self.temperature.value:.2f}, seed {self.seed.value}: "
                 f"{right} of {N_SAMPLES} judged {digit}")
        rows = [(f"row '{digit}'", images, captions)]
        if self.beside.value and self.conditional is not None:
            codes = ConditionalPriorSampler(self.conditional.z_dim).sample(
                digit, N_SAMPLES, torch.Generator().manual_seed(self.seed.value), self.temperature.value)
            drawn = decode_probabilities(self.conditional, codes, labels=torch.full((N_SAMPLES,), digit))
            found = verdicts(self.judge, drawn, digit)
            title += f"; conditional VAE: {sum(colour == GREEN for _, colour in found)} of {N_SAMPLES}"
            rows.append(("conditional", drawn, found))
        return render_panel(title, rows)

    def picture_dimensions(self) -> Image.Image:
        """The start code and the slider code decoded side by side."""
        z = torch.tensor([[self.sliders[d].value for d in range(self.model.z_dim)]], dtype=torch.float32)
        images = decode_probabilities(self.model, torch.cat([self.start_code().reshape(1, -1), z]))
        captions = [(f"start, {c}", colour) for c, colour in verdicts(self.judge, images[:1], None)] + \
            verdicts(self.judge, images[1:], None)
        return render_panel("decoded: start code | slider code", [("", images, captions)], scale=2 * SCALE)

    def picture_interpolation(self) -> Image.Image:
        """Decoded codes along the line between two test images' codes, above the same blend done on pixels."""
        a, b, steps = self.image_a.value, self.image_b.value, self.steps.value
        t = torch.linspace(0, 1, steps).reshape(-1, 1)
        through_z = decode_probabilities(self.model, (1 - t) * self.mu[a] + t * self.mu[b])
        blend = (1 - t.reshape(-1, 1, 1, 1)) * self.images[a] + t.reshape(-1, 1, 1, 1) * self.images[b]
        title = f"test #{a} (a {self.labels[a]}) to test #{b} (a {self.labels[b]})"
        return render_panel(title, [("through z", through_z, verdicts(self.judge, through_z, None)),
                                    ("pixel blend", blend, verdicts(self.judge, blend, None))], scale=3)

    def picture_encoding(self) -> Image.Image:
        """The test image, its reconstruction, five draws from q(z|x), the cluster's digit and the judge's verdict."""
        i = self.encode_image.value
        eps = torch.randn(N_SAMPLES, self.model.z_dim, generator=torch.Generator().manual_seed(self.encode_seed.value))
        decoded = decode_probabilities(self.model, torch.cat([self.mu[i:i + 1], self.mu[i] + self.sigma[i] * eps]))
        label = int(self.labels[i])
        images = torch.cat([self.images[i:i + 1], decoded])
        captions = [(f"label {label}", "black")] + verdicts(self.judge, images[1:], label)
        responsibility = component_responsibilities(self.cluster_sampler, self.mu[i])
        component = int(responsibility.argmax())
        judged = int(classify(self.judge, images[:1])[0])
        title = (f"test #{i}: original | reconstruction | {N_SAMPLES} draws from q(z|x)\n"
                 f"cluster's digit {self.cluster_sampler.component_to_digit[component]} (the chosen sampler's most "
                 f"responsible component, #{component}, p = {responsibility[component]:.2f}); "
                 f"judge: {judged}; label: {label}")
        return stack([render_panel(title, [("", images, captions)]),
                      render_posterior(self.mu[i].numpy(), self.sigma[i].numpy(), self.order, self.inactive)])

    def _draw_digits(self) -> None:
        self.digits_view.value = to_png(self.picture_digits())

    def _draw_dimensions(self) -> None:
        self.dimensions_view.value = to_png(self.picture_dimensions())

    def _draw_interpolation(self) -> None:
        self.interpolation_view.value = to_png(self.picture_interpolation())

    def _draw_encoding(self) -> None:
        self.encode_view.value = to_png(self.picture_encoding())

    def redraw(self) -> None:
        """Draw all four tabs (the sliders start on their start code)."""
        self._draw_digits()
        self.reset_sliders()
        self._draw_interpolation()
        self._draw_encoding()

    # ----- display: live widgets in JupyterLab, a picture wherever no front end runs them
    def snapshot(self) -> Image.Image:
        """All four tabs' current pictures in one image, for rendered notebooks (papermill, nbconvert, nbval)."""
        pictures = [self.picture_digits(), self.picture_dimensions(), self.picture_interpolation(),
                    self.picture_encoding()]
        width = max(picture.width for picture in pictures)
        return stack([part for n, (title, picture) in enumerate(zip(self.tab.titles, pictures))
                      for part in (heading(f"{n + 1}. {title}", width), picture)])

    @one_thread()
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """The widget view for JupyterLab, plus an image/png of the current view that static renderers pick."""
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["image/png"] = base64.b64encode(to_png(self.snapshot())).decode("ascii")
        bundle["text/plain"] = (f"DigitExplorer: {len(self.images):,} test images, samplers: "
                                + "; ".join(self.samplers))
        return bundle


def open_explorer(run_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None, n_images: int = 2000,
                  seed: int = 0, cvae_run_dir: str | os.PathLike | None = None) -> DigitExplorer:
    """Load a run folder's model, judge and the samplers notebook 04 saved, and the first ``n_images`` test images.

    Nothing is refitted, so the explorer is ready in seconds; the cluster's digit in the encode tab is the
    chosen sampler's most responsible component. A finished conditional VAE in ``cvae_run_dir`` can be drawn
    beside the sampler (the toggle in the first tab); without one the toggle is greyed out and says why.
    """
    run = RunFolder(run_dir)
    model, judge, saved = run.load_model(), DigitClassifier(), load_saved_samplers(run)
    run.load_judge(judge)
    judge.eval()
    test = load_mnist(data_dir, train=False)
    samplers = {
        f"chosen: {saved.chosen.name}, T = {saved.temperature:g}": saved.chosen,
        saved.kmeans.name: saved.kmeans,
        "clamped prior (the course report's way: N(0, I) clamped to [-2, 2], the digit only a row title)":
            CoursePriorSampler(model.z_dim),
    }
    cvae = RunFolder(cvae_run_dir) if cvae_run_dir is not None else None
    conditional = cvae.load_model() if cvae is not None and cvae.finished else None
    return DigitExplorer(model, judge, samplers, saved.chosen, saved.temperature,
                         test.images[:n_images], test.labels[:n_images], seed=seed, conditional=conditional)
