"""The digit explorer without a browser: every control redraws its picture, and static renderers get a PNG."""

import base64

import numpy as np
import pytest
import torch

import vae_utils as vu
from vae_utils import explore


def _made_up_sampler(z_dim: int) -> vu.DigitSampler:
    """One well-separated unit Gaussian per digit, as a fitted sampler would give."""
    means = 3 * torch.eye(10, z_dim)
    return vu.DigitSampler(name="made-up mixture", means=means, covariances=torch.eye(z_dim).repeat(10, 1, 1),
                           weights=torch.full((10,), 0.1), component_to_digit=np.arange(10))


@pytest.fixture(scope="module")
def explorer() -> explore.DigitExplorer:
    """An explorer over an untrained VAE and judge, a made-up sampler and random 'test images'."""
    torch.manual_seed(0)
    model = vu.VAE(z_dim=15).eval()
    with torch.no_grad():  # untrained outputs sit near 0.5; a steeper last layer makes codes look different
        model.decoder[-1].weight.mul_(30)
    images = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(40) % 10
    sampler = _made_up_sampler(15)
    samplers = {"made-up": sampler, "prior": vu.sampling.CoursePriorSampler(15)}
    return explore.DigitExplorer(model, vu.judge.DigitClassifier().eval(), samplers, sampler, 0.9, images, labels)


def _changes(picture, change) -> bool:
    """Whether ``change()`` gives ``picture`` (a widgets.Image) other PNG bytes."""
    before = picture.value
    change()
    return picture.value != before and picture.value[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("control, new_value", [
    ("digit", 2), ("sampler", "prior"), ("temperature", 0.5), ("seed", 12345),
])
def test_each_digits_on_demand_control_changes_the_picture(explorer, control, new_value):
    assert _changes(explorer.digits_view, lambda: setattr(getattr(explorer, control), "value", new_value))


def test_new_draw_takes_the_next_seed_and_changes_the_picture(explorer):
    seed = explorer.seed.value
    assert _changes(explorer.digits_view, explorer.new_draw.click)
    assert explorer.seed.value == seed + 1


def test_the_digits_tab_shows_five_samples_of_the_chosen_digit(explorer, monkeypatch):
    drawn = []
    monkeypatch.setattr(explore, "decode_probabilities", lambda m, z: drawn.append(z) or torch.zeros(len(z), 1, 28, 28))
    explorer.sampler.value, explorer.digit.value = "made-up", 4
    assert drawn[-1].shape == (5, 15)
    nearest = torch.cdist(drawn[-1], explorer.cluster_sampler.means).argmin(1)
    assert explorer.cluster_sampler.component_to_digit[nearest].tolist() == [4] * 5


def test_a_latent_slider_changes_the_decoded_digit_and_reset_restores_it(explorer):
    explorer.start_from.index = 0
    explorer.reset.click()
    start = explorer.dimensions_view.value
    slider = next(iter(explorer.sliders.values()))
    assert _changes(explorer.dimensions_view, lambda: setattr(slider, "value", -slider.value if slider.value else 3.0))
    explorer.reset.click()
    assert explorer.dimensions_view.value == start


def test_a_slider_value_echoed_back_with_float_noise_does_not_redraw(explorer, monkeypatch):
    # The browser sends 0.06 back as 0.0599...96 once it renders a slider: 15 sliders must not mean 15 redraws.
    slider = next(iter(explorer.sliders.values()))
    slider.value = 0.06
    monkeypatch.setattr(explore, "to_png", lambda image: pytest.fail("redrawn for float noise"))
    slider.value = 0.05999999999999961


def test_starting_from_a_test_image_puts_the_sliders_on_its_code(explorer):
    explorer.start_image.value = 7
    assert _changes(explorer.dimensions_view, lambda: setattr(explorer.start_from, "index", 1))
    code = [explorer.sliders[d].value for d in range(15)]
    assert code == pytest.approx(explorer.mu[7].clamp(-4, 4).tolist(), abs=0.006)
    assert _changes(explorer.dimensions_view, lambda: setattr(explorer.start_image, "value", 8))


def test_sliders_are_ordered_by_kl_and_inactive_dimensions_are_marked(explorer):
    dims = list(explorer.sliders)
    assert np.all(np.diff(explorer.kl[dims]) <= 0)
    for dim, slider in explorer.sliders.items():
        assert ("inactive" in slider.description) == bool(explorer.inactive[dim])


@pytest.mark.parametrize("control, new_value", [("image_a", 5), ("image_b", 9), ("steps", 4)])
def test_each_interpolation_control_changes_the_picture(explorer, control, new_value):
    assert _changes(explorer.interpolation_view, lambda: setattr(getattr(explorer, control), "value", new_value))


@pytest.mark.parametrize("control, new_value", [("encode_image", 3), ("encode_seed", 77)])
def test_each_encode_control_changes_the_picture(explorer, control, new_value):
    assert _changes(explorer.encode_view, lambda: setattr(getattr(explorer, control), "value", new_value))


def test_the_cluster_digit_is_the_component_most_responsible_for_the_code():
    sampler = _made_up_sampler(15)
    for digit in range(10):
        responsibility = explore.component_responsibilities(sampler, sampler.means[digit] + 0.1)
        assert int(responsibility.argmax()) == digit and float(responsibility.sum()) == pytest.approx(1.0)


def test_without_a_front_end_the_display_data_holds_a_png_of_the_current_view(explorer):
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG") and "DigitExplorer" in bundle["text/plain"]
    explorer.digit.value = 9 if explorer.digit.value != 9 else 8
    assert base64.b64decode(explorer._repr_mimebundle_()["image/png"]) != png


def test_a_redraw_leaves_the_notebooks_thread_count_alone(explorer):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        explorer.seed.value += 1  # drawn on one thread, then the count is restored
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_a_failing_callback_raises_outside_a_kernel(explorer, monkeypatch):
    # In a kernel the Output widget under the tabs shows the traceback; here nothing may swallow it.
    monkeypatch.setattr(explore, "to_png", lambda image: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        explorer.seed.value += 1


def test_the_conditional_toggle_draws_the_same_digit_from_the_conditional_vae_below(monkeypatch):
    torch.manual_seed(0)
    images = torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    sampler = _made_up_sampler(15)
    judge = vu.judge.DigitClassifier().eval()
    with_cvae = explore.DigitExplorer(vu.VAE(15).eval(), judge, {"made-up": sampler}, sampler,
                                      0.9, images, torch.arange(20) % 10, conditional=vu.ConditionalVAE(15).eval())
    alone = with_cvae.picture_digits()
    told = []
    original = explore.decode_probabilities

    def spy(model, z, labels=None):
        told.append(labels)
        return original(model, z, labels=labels)

    monkeypatch.setattr(explore, "decode_probabilities", spy)
    with_cvae.digit.value = 6
    with_cvae.beside.value = True
    assert told[-1] is not None and told[-1].tolist() == [6] * 5, "the conditional VAE is given the digit asked for"
    assert with_cvae.picture_digits().height > alone.height, "a second row of digits"
    assert not with_cvae.beside.disabled


def test_without_a_conditional_vae_the_toggle_is_greyed_out_and_says_why(explorer):
    assert explorer.beside.disabled and "no conditional VAE" in explorer.beside.description
