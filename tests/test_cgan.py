"""The conditional GAN: class names flow from the data into the config and the class picker,
the chosen label is honoured, and a folder of its captioned images reads back as a dataset."""

from pathlib import Path

import pytest
import torch
from ganzoo import testing
from ganzoo.data import DataError, load_images
from ganzoo.errors import UserError
from ganzoo.plugins.cgan import ALL, CGAN, CGANConfig
from ganzoo.training import setup_training
from ganzoo.weights import load_folder, random_model, save_weights

MNIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mnist"
NAMES = ["cat", "dog", "eel"]


def tiny(**overrides) -> CGANConfig:
    return CGANConfig(**{**vars(CGAN.tiny_config()), "num_classes": 3, "class_names": list(NAMES), **overrides})


def test_class_names_come_from_the_data_and_reach_config_json(tmp_path):
    variant = CGAN(CGAN.tiny_config())
    data = testing.make_image_folder(tmp_path / "data", 16, 1, classes=("apple", "pear", "plum"), per_class=2)
    ctx, _ = setup_training(variant, {"data": str(data)}, testing.tiny_settings())
    assert variant.config.class_names == ["apple", "pear", "plum"]
    assert variant.config.num_classes == 3
    variant.train_step(ctx)
    save_weights(tmp_path / "weights", variant, ctx.nets)
    loaded = load_folder(tmp_path / "weights", "cpu", CGAN)
    assert loaded.config.class_names == ["apple", "pear", "plum"]
    label = next(spec for spec in loaded.variant.inputs() if spec.name == "label")
    assert tuple(label.choices) == (ALL, "apple", "pear", "plum")


def test_one_class_gives_per_class_images_captioned_with_it():
    model = random_model(CGAN, config=tiny())
    result = model.generate(label="dog", per_class=5, seed=3)
    assert len(result.images) == 5
    assert result.captions == ["dog"] * 5


def test_all_gives_one_row_per_class_and_each_row_is_that_class_alone():
    model = random_model(CGAN, config=tiny())
    everything = model.generate(label=ALL, per_class=4, seed=1)
    assert len(everything.images) == 12 and everything.columns == 4
    assert everything.captions == [name for name in NAMES for _ in range(4)]
    for row, name in enumerate(NAMES):
        alone = model.generate(label=name, per_class=4, seed=1)
        assert [im.tobytes() for im in alone.images] == [im.tobytes() for im in everything.images[row * 4:row * 4 + 4]]
    # The label changes the images: the rows of different classes differ.
    assert everything.images[0].tobytes() != everything.images[4].tobytes()


def test_unknown_label_is_an_error_listing_the_classes():
    model = random_model(CGAN, config=tiny())
    with pytest.raises(UserError, match="cat, dog, eel"):
        model.generate(label="fox")


def test_default_config_names_classes_by_index():
    names = [spec for spec in CGAN().inputs() if spec.name == "label"][0].choices
    assert tuple(names) == (ALL, *[str(i) for i in range(10)])


def test_captioned_images_read_back_as_a_labelled_dataset(tmp_path):
    """The layout of `ganzoo sample cgan --out-dir DIR`: DIR/<caption>/NNNN.png."""
    model = random_model(CGAN, config=tiny())
    result = model.generate(label=ALL, per_class=3, seed=0)
    for index, (image, caption) in enumerate(zip(result.images, result.captions)):
        (tmp_path / caption).mkdir(exist_ok=True)
        image.save(tmp_path / caption / f"{index:04d}.png")
    data = load_images(tmp_path, model.config.image_size, model.config.channels)
    assert data.class_names == NAMES
    assert data.labels.tolist() == [NAMES.index(c) for c in result.captions]
    original = torch.stack([torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8) for im in result.images])
    assert torch.equal(data.images.flatten(1), original)
    # ... and a cgan trained on it takes the same class names.
    variant = CGAN(CGAN.tiny_config())
    variant.prepare_data({"data": str(tmp_path)})
    assert variant.config.class_names == NAMES


def test_unlabelled_data_is_refused_with_a_hint(tmp_path):
    flat = testing.make_image_folder(tmp_path, 16, 1, classes=("x",), per_class=2) / "x"  # images, no sub-folders
    with pytest.raises(DataError, match="sub-folder"):
        CGAN(CGAN.tiny_config()).prepare_data({"data": str(flat)})


def test_resuming_on_other_classes_is_refused(tmp_path):
    data = testing.make_image_folder(tmp_path / "data", 16, 1, classes=("a", "b"), per_class=2)
    with pytest.raises(DataError, match="differ"):
        CGAN(tiny()).prepare_data({"data": str(data)})


@pytest.mark.skipif(not MNIST.exists(), reason="needs ../shared/data/mnist (the MNIST test split)")
def test_mnist_labels_become_digit_class_names():
    variant = CGAN(CGANConfig(num_classes=2))
    datasets = variant.prepare_data({"data": str(MNIST)})
    assert variant.config.class_names == [str(i) for i in range(10)]
    assert variant.config.num_classes == 10
    assert int(datasets["data"].labels.max()) == 9


def test_the_grid_of_all_classes_names_each_row_and_the_images_stay_unlabelled(tmp_path):
    import numpy as np
    from ganzoo.cli import main
    from ganzoo.images import make_grid
    from PIL import Image

    model = random_model(CGAN, config=tiny())
    result = model.generate(label=ALL, per_class=4, seed=1)
    assert result.row_labels == NAMES
    labelled, plain = np.asarray(result.grid()), np.asarray(make_grid(result.images, 4))
    margin = labelled.shape[1] - plain.shape[1]
    assert labelled.shape[0] == plain.shape[0] and margin > 10
    assert np.array_equal(labelled[:, margin:], plain)  # the same grid, moved right
    for row in range(3):  # dark text left of each row
        assert labelled[2 + row * 18:2 + row * 18 + 16, :margin].min() < 100
    assert model.generate(label="dog", per_class=4, seed=1).row_labels is None

    weights = save_weights(tmp_path / "weights", model.variant, model.nets)
    assert main(["sample", "cgan", "--weights", str(weights), "--per-class", "4", "--seed", "1",
                 "--device", "cpu", "--out-dir", str(tmp_path / "out")]) == 0
    for row, name in enumerate(NAMES):
        files = sorted((tmp_path / "out" / name).glob("*.png"))
        assert [np.asarray(Image.open(f)).tolist() for f in files] == \
            [np.asarray(im).tolist() for im in result.images[row * 4:row * 4 + 4]]


def test_projection_discriminator_trains_and_its_score_depends_on_the_label(tmp_path):
    variant = CGAN(CGANConfig(**{**vars(CGAN.tiny_config()), "conditioning": "projection"}))
    data = testing.make_image_folder(tmp_path / "data", 16, 1, classes=("apple", "pear"), per_class=2)
    ctx, _ = setup_training(variant, {"data": str(data)}, testing.tiny_settings())
    losses = variant.train_step(ctx)
    assert all(torch.isfinite(value) for value in losses.values())
    D = ctx.nets["discriminator"].eval()
    image = torch.rand(1, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        assert D(image, torch.tensor([0])) != D(image, torch.tensor([1]))


def test_auxiliary_classifier_is_blind_to_the_label_and_learns_the_classes(tmp_path):
    """AC-GAN: the discriminator gets no label, names the class from the image, and training
    lowers its cross-entropy on two classes that differ (dark apples, light pears)."""
    variant = CGAN(CGANConfig(**{**vars(CGAN.tiny_config()), "conditioning": "auxiliary"}))
    data = testing.make_image_folder(tmp_path / "data", 16, 1, classes=("apple", "pear"), per_class=4)
    ctx, _ = setup_training(variant, {"data": str(data)}, testing.tiny_settings())
    D = ctx.nets["discriminator"]
    images = torch.cat([torch.full((4, 1, 16, 16), -0.8), torch.full((4, 1, 16, 16), 0.8)])
    labels = torch.tensor([0] * 4 + [1] * 4)

    def class_loss():
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(D.eval()(images)[1], labels).item()

    before = class_loss()
    D.train()
    optimizer = torch.optim.Adam(D.parameters(), 1e-2)
    for _ in range(20):  # the classifier head alone, on the two classes
        loss = torch.nn.functional.cross_entropy(D(images)[1], labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert class_loss() < before
    losses = variant.train_step(ctx)
    assert set(losses) == {"loss_d", "loss_g", "class_loss_g"}
    assert all(torch.isfinite(value) for value in losses.values())
    score, classes = D.eval()(images[:1])
    assert score.shape == (1,) and classes.shape == (1, 2)


def test_without_classify_generated_the_discriminator_learns_classes_from_real_images_only(tmp_path):
    """The same step from the same state: the discriminator's loss drops the generated images'
    cross-entropy (a positive term) and keeps everything else."""
    data = testing.make_image_folder(tmp_path / "data", 16, 1, classes=("apple", "pear"), per_class=4)
    losses = {}
    for classify_generated in (True, False):
        torch.manual_seed(0)
        variant = CGAN(CGANConfig(**{**vars(CGAN.tiny_config()), "conditioning": "auxiliary",
                                     "classify_generated": classify_generated}))
        ctx, _ = setup_training(variant, {"data": str(data)}, testing.tiny_settings())
        losses[classify_generated] = variant.train_step(ctx)
    assert losses[True]["loss_d"] > losses[False]["loss_d"]
    assert losses[True]["loss_g"] != losses[False]["loss_g"]  # the discriminator stepped differently


def test_unknown_conditioning_is_refused_with_the_choices():
    with pytest.raises(UserError, match="concat, projection, auxiliary"):
        CGANConfig(conditioning="bilinear")
    with pytest.raises(UserError, match="class_loss"):
        CGANConfig(conditioning="auxiliary", class_loss=-1)
