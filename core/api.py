"""ganzoo's public API for plugin authors: everything a variant needs, from one module.

    from ganzoo.api import NoiseToImage, hookimpl, bce_d_loss, bce_g_loss, dcgan_pair, ...

Built-in variants (``ganzoo.plugins``) import only from here, as third-party plugins do;
the other modules of ``ganzoo`` are internals and may change. The conformance suite is
``ganzoo.api.testing`` (imported on first use: it pulls in the training loop).
"""

from .data import DataError, ImageSet, load_images
from .errors import UserError
from .hookspecs import hookimpl
from .hub import download_file
from .images import BadImageError, convert_mode, fit_within, open_image, to_pil, to_pil_list, to_tensor
from .losses import (
    bce_d_loss,
    bce_g_loss,
    gradient_penalty,
    gram_matrix,
    hinge_d_loss,
    hinge_g_loss,
    least_squares_d_loss,
    least_squares_g_loss,
    total_variation,
    wasserstein_d_loss,
    wasserstein_g_loss,
)
from .networks import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    NoiseMixture,
    dcgan_base_size,
    dcgan_init,
    dcgan_pair,
    eval_mode,
)
from .optim import adam_per_network, alternating_step, follow_lr_schedule, rmsprop_per_network, set_lr, step
from .sampling import noise
from .variant import (
    DATA,
    Choice,
    DataRole,
    Generated,
    ImageInput,
    Input,
    Model,
    NoiseToImage,
    Progress,
    Seed,
    Slider,
    Variant,
    count_input,
    no_progress,
)
from .weights import WeightsError, load_folder, load_state_into, save_weights

__all__ = [
    # the contract
    "Variant", "NoiseToImage", "Model", "Generated", "Progress", "no_progress", "hookimpl",
    # inputs and data roles
    "Input", "Seed", "Slider", "Choice", "ImageInput", "count_input", "DataRole", "DATA",
    # losses
    "bce_d_loss", "bce_g_loss", "least_squares_d_loss", "least_squares_g_loss", "wasserstein_d_loss",
    "wasserstein_g_loss", "hinge_d_loss", "hinge_g_loss", "gradient_penalty", "gram_matrix", "total_variation",
    # networks
    "dcgan_pair", "dcgan_init", "dcgan_base_size", "DCGANGenerator", "DCGANDiscriminator", "MLPGenerator",
    "MLPDiscriminator", "NoiseMixture", "eval_mode",
    # optimisers and updates
    "adam_per_network", "rmsprop_per_network", "step", "alternating_step", "follow_lr_schedule", "set_lr",
    # noise, images, data, weights, the Hub
    "noise", "to_pil", "to_pil_list", "to_tensor", "convert_mode", "open_image", "fit_within", "ImageSet",
    "load_images", "save_weights", "load_folder", "load_state_into", "download_file",
    # errors
    "UserError", "DataError", "BadImageError", "WeightsError",
    # the conformance suite (lazy)
    "testing",
]


def __getattr__(name):
    if name == "testing":
        from . import testing

        return testing
    raise AttributeError(f"module 'ganzoo.api' has no attribute {name!r}")
