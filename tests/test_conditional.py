"""The conditional VAE: the course report's network given the digit, chosen by name, trained by the same route."""

import numpy as np
import pytest
import torch

import vae_utils as vu


def test_conditional_vae_adds_the_label_to_the_two_linear_layers_only():
    vae, cvae = vu.VAE(15), vu.ConditionalVAE(15)
    assert vu.model.count_parameters(cvae) == 1_237_003  # 1,234,143 + 10 x 30 (encoder) + 10 x 256 (decoder)
    shapes = {key: value.shape for key, value in vae.state_dict().items()}
    changed = {key for key, value in cvae.state_dict().items() if value.shape != shapes[key]}
    assert changed == {"encoder.9.weight", "decoder.0.weight"}


def test_decoder_output_depends_on_the_label_for_a_fixed_code():
    torch.manual_seed(0)
    cvae = vu.ConditionalVAE(15).eval()
    z = torch.randn(1, 15).repeat(10, 1)
    images = vu.latent.decode_probabilities(cvae, z, labels=torch.arange(10))
    assert not torch.allclose(images[3], images[8])


def test_conditional_vae_refuses_missing_or_impossible_labels():
    cvae = vu.ConditionalVAE(15)
    images = torch.rand(4, 1, 28, 28)
    with pytest.raises(ValueError, match="needs the images' labels"):
        vu.model.forward_pass(cvae, images)
    with pytest.raises(ValueError, match="digits 0-9"):
        cvae(images, torch.tensor([0, 1, 2, 10]))
    with pytest.raises(ValueError, match="one label per image"):
        cvae(images, torch.tensor([0, 1]))


@pytest.mark.parametrize("make", [
    lambda: vu.build_model("gan", 15),
    lambda: vu.TrainConfig(model_name="gan"),
])
def test_unknown_model_name_lists_the_known_ones(make):
    with pytest.raises(ValueError, match=r"'vae'.*'cvae'") as error:
        make()
    assert "gan" in str(error.value)


def test_conditional_run_trains_saves_and_loads_as_a_conditional_vae(tmp_path, small_train_images):
    torch.set_num_threads(1)
    train_set, val_set = vu.train_val_split(small_train_images, 128, seed=0)
    config = vu.TrainConfig(epochs=1, val_size=128, model_name="cvae")
    run = vu.RunFolder(tmp_path)
    result = vu.train_or_reuse(config, train_set, val_set, tmp_path, run.plan(config), progress=False)
    assert result.history["val_loss"].notna().all()
    model = run.load_model()
    assert isinstance(model, vu.ConditionalVAE)
    assert torch.equal(model.decoder[0].weight.cpu(), result.model.decoder[0].weight.cpu())


def test_a_vae_folder_refuses_the_conditional_model_naming_both(tmp_path, small_train_images):
    torch.set_num_threads(1)
    train_set, val_set = vu.train_val_split(small_train_images, 128, seed=0)
    config = vu.TrainConfig(epochs=1, val_size=128)
    vu.train_or_reuse(config, train_set, val_set, tmp_path, vu.RunFolder(tmp_path).plan(config), progress=False)
    before = {path.name: path.stat().st_mtime_ns for path in tmp_path.iterdir()}
    with pytest.raises(ValueError, match=r"model_name: run folder has 'vae', parameters ask for 'cvae'"):
        vu.RunFolder(tmp_path).plan(vu.TrainConfig(epochs=1, val_size=128, model_name="cvae"))
    assert before == {path.name: path.stat().st_mtime_ns for path in tmp_path.iterdir()}


def test_conditional_prior_sampler_draws_the_same_codes_for_every_digit():
    sampler = vu.ConditionalPriorSampler(15)
    a = sampler.sample(0, 50, torch.Generator().manual_seed(1), temperature=0.5)
    b = sampler.sample(9, 50, torch.Generator().manual_seed(1), temperature=0.5)
    assert torch.equal(a, b) and sampler.tied_to_digits and sampler.missing_digits() == []
    assert float(a.std()) == pytest.approx(0.5, rel=0.1)


def test_generated_rows_of_the_conditional_vae_are_decoded_with_their_digit():
    torch.manual_seed(0)
    cvae = vu.ConditionalVAE(15).eval()
    images = vu.sampling.generate_digits(cvae, vu.ConditionalPriorSampler(15), n_per_digit=3, seed=2)
    z = vu.sampling.sample_latents(vu.ConditionalPriorSampler(15), 3, 2, 1.0)
    expected = vu.latent.decode_probabilities(cvae, z, labels=torch.arange(10).repeat_interleave(3))
    assert torch.allclose(images.reshape(-1, 1, 28, 28), torch.round(expected * 255) / 255)


@pytest.fixture(scope="module")
def trained_cvae() -> vu.ConditionalVAE:
    """The committed conditional VAE (runs/cvae, trained by notebook 03 under the main protocol); the smoke pipeline
    trains one by the same route (tests/test_notebooks_conditional.py)."""
    model = vu.RunFolder("runs/cvae").load_trained().model
    assert isinstance(model, vu.ConditionalVAE)
    return model.eval()


def test_swapping_the_label_changes_the_judged_digit_of_a_fixed_code(trained_cvae):
    judge = vu.judge.DigitClassifier()
    vu.RunFolder(vu.MAIN_RUN_DIR).load_judge(judge)  # the committed judge (99% on real test digits)
    judge.eval()
    z = torch.randn(20, 15, generator=torch.Generator().manual_seed(0))
    verdicts = np.stack([vu.classify(judge, vu.latent.decode_probabilities(trained_cvae, z,
                                                                     labels=torch.full((20,), digit)))
                         for digit in range(10)])  # [label, code]
    assert (verdicts == np.arange(10)[:, None]).mean() > 0.9, "the judged digit follows the label"
    changed = [(verdicts[a] != verdicts[b]).mean() for a, b in [(1, 7), (3, 8), (4, 9), (0, 6)]]
    assert min(changed) > 0.8, "swapping the label changes the judged digit of most fixed codes"
