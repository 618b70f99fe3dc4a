"""The model is exactly the course report's: same layers, same parameter count, same interface."""

import re

import torch
from torch import nn

import vae_utils as vu


def test_parameter_count_matches_course_report():
    assert vu.count_parameters(vu.VAE()) == 1_234_143
    assert sum(p.numel() for p in vu.VAE(z_dim=15).parameters()) == 1_234_143


def test_encoder_and_decoder_are_sequential():
    model = vu.VAE()
    assert isinstance(model.encoder, nn.Sequential) and isinstance(model.decoder, nn.Sequential)
    assert sum(isinstance(m, nn.Conv2d) for m in model.encoder) == 4
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in model.decoder) == 4


def test_torchsummary_lists_the_seed_rows():
    text = vu.summary_text(vu.VAE())
    rows = [line.split() for line in text.splitlines() if re.match(r"^\s*[A-Za-z0-9]+-\d+\s", line)]
    assert rows[0] == ["Conv2d-1", "[-1,", "32,", "14,", "14]", "544"]
    assert rows[-1] == ["ConvTranspose2d-20", "[-1,", "1,", "28,", "28]", "513"]
    assert len(rows) == 20
    assert "Total params: 1,234,143" in text


def test_layer_table_agrees_with_torchsummary():
    table = vu.layer_table(vu.VAE())
    assert len(table) == 21
    assert table.iloc[-1].to_dict() == {"layer": "Total", "output shape": "", "parameters": 1_234_143}
    assert table["parameters"].iloc[:-1].sum() == 1_234_143


def test_forward_shapes_and_logits():
    model = vu.VAE()
    x = torch.rand(3, 1, 28, 28)
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and mu.shape == (3, 15) and logvar.shape == (3, 15)
    assert torch.equal(model.encode(x)[0], mu)
    assert model.decode(torch.zeros(2, 15)).shape == (2, 1, 28, 28)


def test_reparameterize_is_deterministic_under_a_generator():
    model = vu.VAE()
    mu, logvar = torch.zeros(4, 15), torch.zeros(4, 15)
    a = model.reparameterize(mu, logvar, torch.Generator().manual_seed(1))
    b = model.reparameterize(mu, logvar, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    # with sigma -> 0 the sample collapses onto the mean
    assert torch.allclose(model.reparameterize(mu, torch.full_like(logvar, -80.0)), mu, atol=1e-12)
