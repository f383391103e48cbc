"""Measuring a model offline with a judge (core/judge.py): the digits' or the emoji's, chosen
by the model's images (grey or colour) or by name.

Figures, each beside its real-data reference:
- ``fd``: Frechet distance between the judge's features of generated and real images
  (``fd_real_floor``: the same between two disjoint halves of the real data, even and odd
  images; with half as many images per side it runs a little high, as Frechet distances do);
- ``classifier_is``: the Inception score with the judge as classifier (``classifier_is_real``);
- ``label_accuracy``: where the variant says which label each image should have (the
  conditional GAN's requested class, CycleGAN's source digit), the share the judge agrees;
- ``memorisation_*`` (with training images, ``ganzoo.memorisation``): whether generated
  images are copies of training images;
- ``paired_*`` (``ganzoo.paired``): translations against their true images, where they exist.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .data import ImageSet, load_images
from .errors import UserError
from .judge import JUDGE_DIR, JUDGES, DigitJudge, judge_for, judge_spec, load_judge
from .networks import eval_mode


# The judge's statistics of the whole MNIST test split (10,000 digits), shipped beside the judge
# so that `ganzoo eval` works where MNIST itself is not at hand; written by scripts/train_judge.py.
BUNDLED_REFERENCE_NAME = "mnist"
BUNDLED_REFERENCE = JUDGE_DIR / "mnist-test-reference.safetensors"


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """The Frechet distance between two sets of features (rows)."""
    return frechet_distance_of_stats(*feature_stats(a), *feature_stats(b))


def feature_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of feature rows, in float64."""
    features = features.double()
    return features.mean(0), torch.cov(features.T)


def frechet_distance_of_stats(mu_a, cov_a, mu_b, cov_b) -> float:
    """||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^1/2), in float64.

    Tr((C_a C_b)^1/2) is the sum of square roots of the eigenvalues of the symmetric
    S C_b S with S = C_a^1/2, which avoids a general (non-symmetric) matrix square root.
    """
    mu_a, cov_a, mu_b, cov_b = (x.double() for x in (mu_a, cov_a, mu_b, cov_b))
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * cross)


def inception_score(probabilities: torch.Tensor, splits: int = 10) -> float:
    """exp(E_x KL(p(y|x) || p(y))), the mean over ``splits`` equal parts as usual."""
    scores = []
    for part in probabilities.double().chunk(splits):
        marginal = part.mean(0, keepdim=True)
        kl = (part * (part.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1).mean()
        scores.append(math.exp(float(kl)))
    return sum(scores) / len(scores)


@dataclass
class JudgeOutputs:
    features: torch.Tensor
    probabilities: torch.Tensor


@torch.no_grad()
def in_judge_classes(judge: DigitJudge, names, labels: torch.Tensor | None) -> torch.Tensor | None:
    """Labels that index ``names`` (a dataset's or a model's classes) as indices of the judge's
    classes, matched by name; None where some name is not one of the judge's (a label accuracy
    would mean nothing) or there are no labels."""
    classes = list(judge_spec(judge.name).classes)
    names = [str(name) for name in names or []]
    if labels is None or not names or any(name not in classes for name in names):
        return None
    return torch.tensor([classes.index(name) for name in names])[labels]


def class_names_of(model, data: ImageSet | None) -> list[str]:
    """The names of the labels ``generate_for_evaluation`` gives: the input data's classes for
    a translator, the model's own (a conditional GAN's) otherwise."""
    if data is not None:
        return data.class_names
    names = getattr(model.variant, "class_names", None)
    return names() if callable(names) else []


@torch.no_grad()
def judge_images(judge: DigitJudge, batches) -> JudgeOutputs:
    features, probabilities = [], []
    for images in batches:
        f = judge.features(images.to(next(judge.parameters()).device))
        features.append(f.cpu())
        probabilities.append(judge.head(f).softmax(1).cpu())
    return JudgeOutputs(torch.cat(features), torch.cat(probabilities))


def as_float_images(images: ImageSet) -> torch.Tensor:
    return images.images.float() / 127.5 - 1


class Reference:
    """The real data's figures and feature statistics, computed once per evaluation or run:
    from real images, or read from a statistics file (``save`` / ``load``)."""

    def __init__(self, judge: DigitJudge, mean: torch.Tensor, cov: torch.Tensor, figures: dict):
        self.judge, self.mean, self.cov, self.figures = judge, mean, cov, figures

    @classmethod
    def from_images(cls, judge: DigitJudge, real: ImageSet) -> Reference:
        outputs = judge_images(judge, as_float_images(real).split(500))
        # Even and odd images: the judge trained on MNIST's first half, so a first-half-against-
        # second-half split would measure the judge's own overfitting, not the data's spread.
        features = outputs.features
        figures = {
            "fd_real_floor": frechet_distance(features[0::2], features[1::2]),
            "classifier_is_real": inception_score(outputs.probabilities),
        }
        labels = in_judge_classes(judge, real.class_names, real.labels)
        if labels is not None:
            predicted = outputs.probabilities.argmax(1)
            figures["label_accuracy_real"] = float((predicted == labels).float().mean())
            by_class = accuracy_by_class(judge, predicted, labels)
            figures["label_accuracy_real_by_class"] = by_class
            # the classes weighted alike, as a conditional GAN is asked for them: its like-for-like figure
            figures["label_accuracy_real_balanced"] = sum(by_class.values()) / len(by_class)
        return cls(judge, *feature_stats(features), figures)

    def save(self, path: Path, source: str) -> None:
        from safetensors.torch import save_file

        metadata = {"source": source, "figures": json.dumps(self.figures), "judge": self.judge.name}
        save_file({"mean": self.mean, "cov": self.cov}, str(path), metadata=metadata)

    @classmethod
    def load(cls, judge: DigitJudge, path: Path) -> Reference:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as file:
            tensors = {key: file.get_tensor(key) for key in ("mean", "cov")}
            metadata = file.metadata()
        owner = metadata.get("judge", "digits")  # files written before there were two judges: the digits'
        if owner != judge.name:
            raise UserError(f"{path} holds the {owner} judge's statistics, not the {judge.name} judge's")
        return cls(judge, tensors["mean"], tensors["cov"], json.loads(metadata["figures"]))


def is_bundled_reference(real_source: str) -> bool:
    """Whether ``--real`` names a judge's shipped statistics (``mnist``, ``emoji``), not images."""
    return any(real_source == spec.reference_name for spec in JUDGES.values())


def load_reference(judge: DigitJudge, real_source: str | None = None) -> Reference:
    """The reference for ``--real``: the statistics of a test split that ship with the judge
    (``mnist`` for the digits', ``emoji`` for the emoji's: the default, None), or any real
    images ``load_images`` reads."""
    spec = judge_spec(judge.name)
    if real_source is None or real_source == spec.reference_name:
        return Reference.load(judge, spec.reference)
    if is_bundled_reference(real_source):
        raise UserError(f"--real {real_source} is another judge's statistics; the {judge.name} judge's are "
                        f"'{spec.reference_name}', or pass a folder of real images")
    return Reference.from_images(judge, load_images(real_source, judge.image_size, judge.channels))


def generate_for_evaluation(model, n: int, seed: int = 0, data: ImageSet | None = None, direction: str | None = None):
    """``n`` images from the model (a list of CPU batches) and the labels they should have
    (None where the variant does not say); ``direction`` picks a translator's way (CycleGAN:
    ``a2b`` or ``b2a``), None its default."""
    images, labels = [], []
    options = {} if direction is None else {"direction": direction}
    with eval_mode(model.nets), torch.no_grad():
        for batch, batch_labels in model.variant.evaluation_batches(model, n, seed, data, **options):
            images.append(batch.float().cpu())
            if batch_labels is not None:
                labels.append(batch_labels.cpu())
    return images, (torch.cat(labels) if labels else None)


def evaluate_model(model, reference: Reference, n: int, seed: int = 0, data: ImageSet | None = None) -> dict:
    """The figures for one model; ``data`` feeds variants that translate images."""
    images, labels = generate_for_evaluation(model, n, seed, data)
    return score_images(reference, images, in_judge_classes(reference.judge, class_names_of(model, data), labels))


def score_images(reference: Reference, images: list[torch.Tensor], labels: torch.Tensor | None) -> dict:
    """The judge's figures for generated images, beside the real data's."""
    outputs = judge_images(reference.judge, images)
    figures = {
        "samples": len(outputs.features),
        "fd": frechet_distance_of_stats(*feature_stats(outputs.features), reference.mean, reference.cov),
        "classifier_is": inception_score(outputs.probabilities),
    }
    if labels is not None:
        predicted = outputs.probabilities.argmax(1)
        figures["label_accuracy"] = float((predicted == labels).float().mean())
        figures["label_accuracy_by_class"] = accuracy_by_class(reference.judge, predicted, labels)
    return {**figures, **reference.figures}


def accuracy_by_class(judge: DigitJudge, predicted: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """The judge's agreement with each label that occurs, by the judge's class name: where a
    conditional GAN's or a dataset's accuracy comes from."""
    names = judge_spec(judge.name).classes
    return {names[c]: float((predicted[labels == c] == c).float().mean()) for c in sorted(set(labels.tolist()))}


def label_kept(judge: DigitJudge, inputs: torch.Tensor, translated: list[torch.Tensor], labels: torch.Tensor) -> dict:
    """For a translator: how often the judge reads the true label in its inputs, and of those
    inputs, the share whose translation it still reads so (1.0: nothing the judge could see was
    lost in translation)."""
    before = judge_images(judge, inputs.split(500)).probabilities.argmax(1) == labels
    after = judge_images(judge, translated).probabilities.argmax(1) == labels
    return {"label_accuracy_input": float(before.float().mean()),
            "label_kept_of_correct": float((before & after).sum() / before.sum().clamp(min=1))}


def inception_figures(inception, generated: list[torch.Tensor], real: ImageSet) -> dict:
    """The usual FID (ganzoo.inception), with its real-vs-real floor on even and odd images."""
    from .inception import inception_features

    real_features = inception_features(inception, as_float_images(real).split(500))
    fake_features = inception_features(inception, generated)
    return {"inception_fd": frechet_distance(fake_features, real_features),
            "inception_fd_real_floor": frechet_distance(real_features[0::2], real_features[1::2])}


def evaluate(model, real_source: str | None = None, n: int = 10_000, seed: int = 0, data_source: str | None = None,
             device="cpu", inception_weights=None, *, judge_name: str | None = None,
             train_source: str | None = None, direction: str | None = None) -> dict:
    """The judge's figures (``judge_name``; None: ``judge_for`` the model's images) against
    ``real_source`` (None: the judge's shipped statistics); with ``inception_weights`` (a path)
    also the Inception FID; with ``train_source`` the memorisation check, against
    ``real_source``'s images held out, or leave-one-out where it names shipped statistics."""
    config = model.variant.config
    judge = load_judge(device=device, name=judge_name or judge_for(config))
    real_images = real_source is not None and not is_bundled_reference(real_source)
    inception = None
    if inception_weights is not None:  # load first: a bad file fails before the long part
        from .inception import load_inception

        inception = load_inception(inception_weights, device)
        if not real_images:
            raise UserError(f"the Inception FID needs real images, not the judge's statistics of them: pass --real "
                            f"with a folder of them (for example {judge_spec(judge.name).data})")
    reference = load_reference(judge, real_source)
    data = None
    if data_source is not None:
        data = load_images(data_source, config.image_size, config.channels)
    images, labels = generate_for_evaluation(model, n, seed, data, direction)
    labels = in_judge_classes(judge, class_names_of(model, data), labels)
    figures = {"judge": judge.name, **score_images(reference, images, labels)}
    if data is not None and labels is not None:
        figures.update(label_kept(judge, as_float_images(data)[:len(labels)], images, labels))
    if inception is not None or train_source is not None:
        real = load_images(real_source, config.image_size, config.channels) if real_images else None
    if inception is not None:
        figures.update(inception_figures(inception, images, real))
    if train_source is not None:
        from .memorisation import memorisation

        train = as_float_images(load_images(train_source, config.image_size, config.channels))
        figures.update(memorisation(images, train, None if real is None else as_float_images(real)))
        # the floor a model of the training images can hope for: the real images against them
        train_stats = feature_stats(judge_images(judge, train.split(500)).features)
        figures["fd_real_vs_train"] = frechet_distance_of_stats(reference.mean, reference.cov, *train_stats)
    return figures


def format_report(name: str, figures: dict) -> str:
    rows = [("variant", name)]
    if "judge" in figures:
        rows.append(("judge", figures["judge"]))
    pairs = [("fd", "fd_real_floor", "Frechet distance (judge features)", "real-vs-real floor"),
             ("fd_real_vs_train", "fd_real_floor", "Frechet distance, real against training images",
              "real-vs-real floor"),
             ("classifier_is", "classifier_is_real", "classifier Inception score", "real data"),
             ("label_accuracy", "label_accuracy_real", "label accuracy (judge agrees)", "real data"),
             ("label_kept_of_correct", "label_accuracy_input", "label kept, of inputs the judge reads right",
              "inputs read right"),
             ("inception_fd", "inception_fd_real_floor", "Inception FID (torchvision weights)", "real-vs-real floor"),
             ("paired_l1", "paired_l1_identity", "L1 against the true images", "identity baseline"),
             ("paired_psnr", "paired_psnr_identity", "PSNR against the true images, dB", "identity baseline")]
    rows.append(("samples", str(figures.get("samples"))))
    for key, ref, label, ref_label in pairs:
        if key in figures:
            rows.append((label, f"{figures[key]:.3f}  ({ref_label}: {figures.get(ref, float('nan')):.3f})"))
    generated, real = figures.get("label_accuracy_by_class", {}), figures.get("label_accuracy_real_by_class", {})
    if "label_accuracy_real_balanced" in figures and generated:
        rows.append(("label accuracy, real data, classes alike", f"{figures['label_accuracy_real_balanced']:.3f}"))
    for name, value in generated.items():
        rows.append((f"  {name}", f"{value:.3f}" + (f"  (real data: {real[name]:.3f})" if name in real else "")))
    if "inception_fd" not in figures:
        rows.append(("Inception FID", "not measured (no Inception weights: see --inception-weights)"))
    if "memorisation_ratio" in figures:
        kind = figures["memorisation_real"]
        nearest = (f"median distance {figures['memorisation_nn_median']:.3f}  ({kind} real images: "
                   f"{figures['memorisation_nn_median_real']:.3f})")
        ratio = (f"{figures['memorisation_ratio']:.3f}  (generated / real medians: about 1 or more is healthy, "
                 f"well below 1 means copies)")
        copies = (f"{figures['memorisation_near_copies']:.3f}  (closer to a training image than 1% of {kind} real "
                  f"images are: about 0.01 is healthy)")
        rows += [("nearest training image", nearest), ("memorisation ratio", ratio), ("near-copies", copies)]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


class TrainingEvaluator:
    """Scores the model every ``eval_every`` steps during training; ``ganzoo.training`` keeps
    the best weights by the variant's ``selection_metric`` in ``<run>/best/`` (GAN quality
    often peaks and then degrades). Uses only seeded noise of its own: a resumed run stays
    identical to an uninterrupted one."""

    def __init__(self, variant, datasets: dict, sources: dict, n: int):
        role = variant.evaluation_reference_role
        judge = load_judge(name=judge_for(variant.config))
        self.reference = Reference.from_images(judge, load_images(sources[role], judge.image_size, judge.channels))
        self.data = datasets["data"] if role != "data" else None  # translators' input domain
        self.n = n
        self.metric, self.mode = variant.selection_metric
        names = self.data.class_names if self.data is not None else getattr(variant, "class_names", list)()
        if self.metric.startswith("label") and in_judge_classes(judge, names, torch.zeros(1, dtype=torch.long)) is None:
            # classes the judge cannot read (not digits, not emoji categories): no label figures to choose by
            self.metric, self.mode = "fd", "min"

    def __call__(self, ctx) -> dict:
        from .variant import Model

        published = ctx.published_nets()
        nets = {name: published[name] for name in ctx.variant.inference_networks}
        return evaluate_model(Model(ctx.variant, nets, ctx.device, "training"), self.reference, self.n, 0, self.data)

    def better(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value < best if self.mode == "min" else value > best
