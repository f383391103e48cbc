"""The learning-rate decay that DCGAN, LSGAN, the MLP GAN, the conditional GAN, WGAN-GP and BEGAN take as
an option (CycleGAN has it always)."""

import dataclasses

import pytest
from ganzoo import testing
from ganzoo.plugins.began import BEGAN
from ganzoo.plugins.cgan import CGAN
from ganzoo.plugins.dcgan import DCGAN
from ganzoo.plugins.gan import GAN
from ganzoo.plugins.lsgan import LSGAN
from ganzoo.plugins.wgan_gp import WGANGP
from ganzoo.training import setup_training


DECAYING = [DCGAN, LSGAN, GAN, CGAN, WGANGP, BEGAN]


def rates_over_steps(variant, tmp_path, steps=5) -> list[float]:
    ctx, _ = setup_training(variant, testing.tiny_sources(variant, tmp_path), testing.tiny_settings())
    rates = []
    for ctx.step in range(steps):
        variant.train_step(ctx)
        rates.append({opt.param_groups[0]["lr"] for opt in ctx.optimizers.values()})
    return rates


@pytest.mark.parametrize("variant_class", DECAYING)
def test_decay_keeps_the_rate_then_falls_linearly_to_zero(variant_class, tmp_path):
    config = dataclasses.replace(variant_class.tiny_config(), decay_start_step=1, decay_steps=2)
    lr = config.lr
    rates = rates_over_steps(variant_class(config), tmp_path)
    assert all(len(r) == 1 for r in rates)  # both networks at the same rate
    assert [r.pop() for r in rates] == pytest.approx([lr, lr, lr / 2, 0, 0])


@pytest.mark.parametrize("variant_class", DECAYING)
def test_without_decay_the_rate_stays_the_papers(variant_class, tmp_path):
    config = variant_class.tiny_config()
    assert config.decay_steps == 0
    assert rates_over_steps(variant_class(config), tmp_path) == [{config.lr}] * 5
