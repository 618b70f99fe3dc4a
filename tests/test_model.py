"""The model is exactly the course report's: the same 20 torchsummary rows, the same parameters, exact fast layers."""

import re

import pytest
import torch
from torch import nn

import vae_utils as vu

# The course report's torchsummary table (its layer_table.tsv), carried here because a clone has no ../shared.
COURSE_REPORT_ROWS = [
    ("Conv2d-1", "[-1, 32, 14, 14]", 544),
    ("ReLU-2", "[-1, 32, 14, 14]", 0),
    ("Conv2d-3", "[-1, 64, 7, 7]", 32_832),
    ("ReLU-4", "[-1, 64, 7, 7]", 0),
    ("Conv2d-5", "[-1, 128, 3, 3]", 131_200),
    ("ReLU-6", "[-1, 128, 3, 3]", 0),
    ("Conv2d-7", "[-1, 256, 1, 1]", 524_544),
    ("ReLU-8", "[-1, 256, 1, 1]", 0),
    ("Flatten-9", "[-1, 256]", 0),
    ("Linear-10", "[-1, 30]", 7_710),
    ("Linear-11", "[-1, 256]", 4_096),
    ("Unflatten-12", "[-1, 256, 1, 1]", 0),
    ("ReLU-13", "[-1, 256, 1, 1]", 0),
    ("ConvTranspose2d-14", "[-1, 128, 3, 3]", 295_040),
    ("ReLU-15", "[-1, 128, 3, 3]", 0),
    ("ConvTranspose2d-16", "[-1, 64, 7, 7]", 204_864),
    ("ReLU-17", "[-1, 64, 7, 7]", 0),
    ("ConvTranspose2d-18", "[-1, 32, 14, 14]", 32_800),
    ("ReLU-19", "[-1, 32, 14, 14]", 0),
    ("ConvTranspose2d-20", "[-1, 1, 28, 28]", 513),
]


def _summary_rows(model: nn.Module) -> list[tuple[str, str, int]]:
    pattern = re.compile(r"^\s*(\w+-\d+)\s+(\[.*?\])\s+([\d,]+)\s*$")
    matches = (pattern.match(line) for line in vu.summary_text(model).splitlines())
    return [(m[1], m[2], int(m[3].replace(",", ""))) for m in matches if m]


def test_torchsummary_prints_the_course_report_rows_in_order():
    assert _summary_rows(vu.VAE(z_dim=15)) == COURSE_REPORT_ROWS
    assert "Total params: 1,234,143" in vu.summary_text(vu.VAE())


def test_row_comparison_catches_a_changed_layer():
    model = vu.VAE()
    model.decoder[5] = nn.ConvTranspose2d(128, 64, 4, 1, 0)  # the earlier guess: same total, other rows
    assert _summary_rows(model) != COURSE_REPORT_ROWS


def test_parameter_count_matches_course_report():
    assert vu.model.count_parameters(vu.VAE()) == 1_234_143


def test_layer_table_agrees_with_torchsummary():
    table = vu.layer_table(vu.VAE())
    assert list(zip(table["layer"], table["output shape"], table["parameters"]))[:-1] == COURSE_REPORT_ROWS
    assert table.iloc[-1].to_dict() == {"layer": "Total", "output shape": "", "parameters": 1_234_143}


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
    assert torch.allclose(model.reparameterize(mu, torch.full_like(logvar, -80.0)), mu, atol=1e-12)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    "fast, stock, shape",
    [
        (vu.model.Conv2d(128, 256, 4, 2, 1), nn.Conv2d(128, 256, 4, 2, 1), (6, 128, 3, 3)),
        (vu.model.ConvTranspose2d(256, 128, 3), nn.ConvTranspose2d(256, 128, 3), (6, 256, 1, 1)),
        (vu.model.ConvTranspose2d(32, 1, 4, 2, 1), nn.ConvTranspose2d(32, 1, 4, 2, 1), (6, 32, 14, 14)),
        (vu.model.ConvTranspose2d(8, 1, (3, 5), (1, 2), (0, 2)), nn.ConvTranspose2d(8, 1, (3, 5), (1, 2), (0, 2)),
         (3, 8, 5, 6)),
    ],
    ids=["Conv2d-7", "ConvTranspose2d-14", "ConvTranspose2d-20", "one-channel-uneven"],
)
def test_fast_layers_equal_stock_layers_in_outputs_and_gradients(fast, stock, shape, channels_last):
    torch.manual_seed(0)
    stock.load_state_dict(fast.state_dict())
    x = torch.randn(shape)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        fast, stock = fast.to(memory_format=torch.channels_last), stock.to(memory_format=torch.channels_last)
    x_fast, x_stock = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_fast, out_stock = fast(x_fast), stock(x_stock)
    assert torch.allclose(out_fast, out_stock, atol=1e-5)
    grad = torch.randn_like(out_stock)
    grads_fast = torch.autograd.grad(out_fast, (x_fast, fast.weight, fast.bias), grad)
    grads_stock = torch.autograd.grad(out_stock, (x_stock, stock.weight, stock.bias), grad)
    for a, b in zip(grads_fast, grads_stock):  # sums over many pixels: rounding scales with their size
        assert torch.allclose(a, b, atol=1e-5 * max(1.0, b.abs().max().item()), rtol=1e-5)


def test_fast_layers_fall_back_to_the_stock_path_on_other_shapes():
    conv, deconv = vu.model.Conv2d(128, 256, 4, 2, 1), vu.model.ConvTranspose2d(256, 128, 3)
    big, wide = torch.randn(2, 128, 7, 7), torch.randn(2, 256, 2, 2)
    assert torch.equal(conv(big), nn.Conv2d.forward(conv, big))
    assert torch.equal(deconv(wide), nn.ConvTranspose2d.forward(deconv, wide))
    spaced, small = vu.model.ConvTranspose2d(32, 1, 4, 2, 1, dilation=2), torch.randn(2, 32, 5, 5)
    assert torch.equal(spaced(small), nn.ConvTranspose2d.forward(spaced, small))  # one channel, dilated: stock


def test_vae_equals_the_same_network_built_from_stock_layers():
    torch.manual_seed(0)
    model = vu.VAE()
    stock = vu.VAE()
    stock.load_state_dict(model.state_dict())
    for layer in [*stock.encoder, *stock.decoder]:
        if type(layer) in (vu.model.Conv2d, vu.model.ConvTranspose2d):
            layer.__class__ = type(layer).__bases__[0]
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(model.decode(model.encode(x)[0]), stock.decode(stock.encode(x)[0]), atol=1e-5)
