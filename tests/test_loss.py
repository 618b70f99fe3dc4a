"""The loss is the negative ELBO: BCE reconstruction plus the closed-form Gaussian KL."""

import math

import torch

import vae_utils as vu


def test_kl_matches_hand_computed_example():
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    # KL(N(1, 1) || N(0, 1)) = 0.5 and KL(N(0, 4) || N(0, 1)) = 0.5 * (4 - 1 - ln 4)
    expected = 0.5 + 0.5 * (4.0 - 1.0 - math.log(4.0))
    terms = vu.model.vae_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), mu, logvar)
    assert math.isclose(terms.kl.item(), expected, rel_tol=1e-6)


def test_kl_agrees_with_torch_distributions():
    generator = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(8, 15, generator=generator), torch.randn(8, 15, generator=generator)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(q, p).sum()
    assert torch.allclose(vu.model.kl_divergence(mu, logvar).sum(), expected, rtol=1e-5)


def test_reconstruction_is_summed_bernoulli_negative_log_likelihood():
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 3.0]]]])
    x = torch.tensor([[[[1.0, 0.0], [0.5, 1.0]]]])
    p = torch.sigmoid(logits)
    expected = -(x * p.log() + (1 - x) * (1 - p).log()).sum()
    terms = vu.model.vae_loss(logits, x, torch.zeros(1, 15), torch.zeros(1, 15))
    assert torch.allclose(terms.recon, expected, rtol=1e-6)
    assert terms.kl.item() == 0.0
    assert torch.equal(terms.loss, terms.recon + terms.kl)


def test_loss_is_a_batch_sum():
    x = torch.rand(4, 1, 28, 28)
    logits, mu, logvar = torch.zeros_like(x), torch.ones(4, 15), torch.zeros(4, 15)
    whole = vu.model.vae_loss(logits, x, mu, logvar).loss
    halves = vu.model.vae_loss(logits[:2], x[:2], mu[:2], logvar[:2]).loss + vu.model.vae_loss(
        logits[2:], x[2:], mu[2:], logvar[2:]
    ).loss
    assert torch.allclose(whole, halves)
