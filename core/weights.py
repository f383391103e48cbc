"""Inference weights: the folder format, strict loading, and which weights a variant uses.

A weights folder holds ``config.json`` (the variant's name, the ganzoo version and every
config field needed to rebuild the networks) and ``model.safetensors`` (the inference
networks' tensors, keys prefixed by network name: ``generator.net.0.weight``).

Which weights, the same in the app and the CLI:
  1. an explicit choice: ``--weights`` or ``GANZOO_WEIGHTS_<VARIANT>`` (a folder, one of the
     variant's named models, or a Hub repo id[@revision]; ``parse_spec`` tells which); failing
     to load it is an error, never a silent fallback;
  2. the variant's Hub repo (``default_repo``), when the Hub can be reached;
  3. the weights bundled with the plugin;
  4. untrained random weights, said loudly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from pathlib import Path

import torch

from . import __version__
from .errors import UserError
from .files import atomic_write_bytes, atomic_write_text
from .models import BUNDLED_ORIGIN, NamedModel, default_model, find_model, models_of
from .variant import Model, Variant

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
RANDOM_SOURCE = "untrained, random weights"
REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
HUB_PREFIX = "hf://"  # a spec that starts with it is always a Hub repo id
PATH_PREFIXES = ("./", "../", "/", "~")  # a spec that starts with one is always a local path


class WeightsError(UserError):
    """Weights could not be loaded; the message says why and what to do."""


class RandomWeightsWarning(UserWarning):
    pass


# --------------------------------------------------------------------------- writing


def save_weights(folder: str | os.PathLike, variant: Variant, nets: dict,
                 dtype: torch.dtype = torch.float32) -> Path:
    """Write the inference networks of ``nets`` and the config that rebuilds them, with the
    weights file's SHA-256, which ``load_folder`` checks."""
    from safetensors.torch import save

    folder = Path(folder)
    tensors = {}
    for net_name in variant.inference_networks:
        for key, value in nets[net_name].state_dict().items():
            value = value.detach().to("cpu")
            if value.is_floating_point():
                value = value.to(dtype)
            tensors[f"{net_name}.{key}"] = value.contiguous()
    metadata = {"format": "pt", "ganzoo_variant": variant.name, "ganzoo_version": __version__}
    data = save(tensors, metadata=metadata)
    atomic_write_bytes(folder / WEIGHTS_FILE, data)
    info = {
        "variant": variant.name,
        "ganzoo_version": __version__,
        "networks": list(variant.inference_networks),
        "dtype": str(dtype).removeprefix("torch."),
        "sha256": hashlib.sha256(data).hexdigest(),
        "config": variant.config_dict(),
    }
    atomic_write_text(folder / CONFIG_FILE, json.dumps(info, indent=2))
    return folder


# --------------------------------------------------------------------------- reading


def read_config(folder: str | os.PathLike) -> dict:
    path = Path(folder) / CONFIG_FILE
    if not path.exists():
        raise WeightsError(f"{Path(folder)} has no {CONFIG_FILE}: it is not a ganzoo weights folder. "
                           f"Pass a run folder written by `ganzoo train`, or a folder with "
                           f"{CONFIG_FILE} and {WEIGHTS_FILE}.")
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise WeightsError(f"{path} is not valid JSON ({error}); re-export or re-download it") from None
    if not isinstance(info, dict) or "variant" not in info or "config" not in info:
        raise WeightsError(f"{path} does not say which variant it is for (no 'variant' and 'config' "
                           f"fields): it was not written by ganzoo")
    return info


def load_folder(folder: str | os.PathLike, device: torch.device | str = "cpu",
                variant_class: type | None = None, source: str | None = None) -> Model:
    """Load a weights folder strictly: every tensor the config's networks need, no more."""
    from .registry import get_variant

    folder = Path(folder)
    info = read_config(folder)
    if variant_class is None:
        variant_class = get_variant(info["variant"])
    elif info["variant"] != variant_class.name:
        raise WeightsError(f"{folder} holds {info['variant']} weights, not {variant_class.name} weights; "
                           f"use `ganzoo sample {info['variant']} ...`, or pick a {variant_class.name} model")
    try:
        variant = variant_class(variant_class.config_from_dict(info["config"]))
    except (TypeError, ValueError, UserError) as error:
        raise WeightsError(f"{folder / CONFIG_FILE}: {error}") from None
    nets = variant.build_networks()
    nets = {name: nets[name] for name in variant.inference_networks}
    load_state_into(nets, _read_tensors(folder / WEIGHTS_FILE), folder / WEIGHTS_FILE)
    # After the keys and shapes, which name what does not fit: damage that keeps the structure.
    _check_sha256(folder / WEIGHTS_FILE, info.get("sha256"))
    device = torch.device(device)
    for net in nets.values():
        net.to(device).eval()
    return Model(variant, nets, device, source or f"local folder {folder}")


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.exists():
        raise WeightsError(f"{path} is missing: the folder has a config but no weights")
    try:
        return load_file(str(path), device="cpu")
    except Exception as error:  # safetensors raises its own error types for a bad header
        raise WeightsError(f"{path} is corrupt or not a safetensors file ({error}). Download it again "
                           f"(for a Hub model, delete it from the cache or pass --force-download), or "
                           f"export it again from the run folder.") from None


def _check_sha256(path: Path, expected: str | None) -> None:
    """Where the config records the weights file's SHA-256 (``save_weights`` writes one; older
    folders have none and load as before), the file must match it."""
    if expected is None:
        return
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise WeightsError(f"{path} has SHA-256 {actual[:16]}..., not the {str(expected)[:16]}... its {CONFIG_FILE} "
                           f"records: the file is damaged or was changed after it was saved. Download it again "
                           f"(for a Hub model, delete it from the cache), or export it again from the run folder "
                           f"(a training run stopped while saving writes both files again when resumed).")


def load_state_into(nets: dict, tensors: dict[str, torch.Tensor], where) -> None:
    """Check keys and shapes against the networks, then load with strict=True."""
    expected = {f"{name}.{key}": value for name, net in nets.items() for key, value in net.state_dict().items()}
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise WeightsError(
            f"{where} does not match the networks its config describes.\n"
            f"  missing keys ({len(missing)}): {_short(missing)}\n"
            f"  unexpected keys ({len(unexpected)}): {_short(unexpected)}\n"
            f"Was config.json edited, or the weights saved by another variant or version?")
    wrong = [f"{k}: file {tuple(tensors[k].shape)}, network {tuple(v.shape)}"
             for k, v in expected.items() if tensors[k].shape != v.shape]
    if wrong:
        raise WeightsError(f"{where} has tensors of the wrong shape for its config: {_short(wrong)}")
    for name, net in nets.items():
        prefix = name + "."
        net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}, strict=True)


def _short(items: list[str], limit: int = 8) -> str:
    if not items:
        return "none"
    return ", ".join(items[:limit]) + (f" ... and {len(items) - limit} more" if len(items) > limit else "")


def random_model(variant_class: type, device: torch.device | str = "cpu", config=None) -> Model:
    variant = variant_class(config)
    nets = variant.build_networks()
    device = torch.device(device)
    nets = {name: nets[name].to(device).eval() for name in variant.inference_networks}
    return Model(variant, nets, device, RANDOM_SOURCE, is_random=True)


# --------------------------------------------------------------------------- choosing


def parse_spec(spec: str, variant_class: type | None = None) -> tuple[str, str | None] | Path | NamedModel:
    """A weights spec is a local folder, one of the variant's named models, or a Hub repo id
    with an optional @revision, tried in that order.

    ``hf://user/name[@revision]`` is always a Hub repo. A spec is a local path when it starts
    with ``./``, ``../``, ``/`` or ``~`` (or is ``.`` or ``..``), when it exists, or when its
    first segment is an existing folder here (``runs/typo`` with a ``runs/`` folder): such a
    path that is missing fails at once, never becoming a Hub request. Next, a name of one of
    ``variant_class``'s models (``ganzoo.models``: exact, or its slug, ``mnist-digits``).
    Anything else of the form ``user/name[@revision]`` is a Hub repo id."""
    if spec.startswith(HUB_PREFIX):
        return _repo_id(spec.removeprefix(HUB_PREFIX), spec)
    path = Path(os.path.expanduser(spec))  # unchanged for an unknown ~user, where Path's raises
    if path.exists():
        return path
    explicit = spec in (".", "..") or spec.startswith(PATH_PREFIXES)
    if explicit or Path(spec.split("/", 1)[0]).is_dir():
        hub = "hf://user/name" if explicit else f"hf://{spec}"
        raise WeightsError(f"no such folder: {path}. Check the path (a relative one starts from the "
                           f"current folder, {Path.cwd()}); for a Hub repo, write {hub}")
    named = find_model(variant_class, spec) if variant_class is not None else None
    if named is not None:
        return named
    return _repo_id(spec, spec, variant_class)


def _repo_id(text: str, spec: str, variant_class: type | None = None) -> tuple[str, str | None]:
    repo_id, _, revision = text.partition("@")
    if REPO_ID.match(repo_id):
        return repo_id, revision or None
    if variant_class is None:
        raise WeightsError(f"{spec!r} is neither an existing folder nor a Hub repo id like 'user/name', "
                           f"'user/name@revision' or 'hf://user/name'")
    names = ", ".join(f'"{name}"' for name in models_of(variant_class)) or "none"
    raise WeightsError(f"{spec!r} is neither an existing folder, nor a model of {variant_class.name} "
                       f"({names}; `ganzoo list` shows them), nor a Hub repo id like 'user/name', "
                       f"'user/name@revision' or 'hf://user/name'")


def load_spec(spec: str | NamedModel, variant_class: type | None, device) -> Model:
    parsed = spec if isinstance(spec, NamedModel) else parse_spec(spec, variant_class)
    if isinstance(parsed, Path):
        return load_folder(parsed, device, variant_class)
    if isinstance(parsed, NamedModel):
        return load_folder(parsed.folder, device, variant_class, source=parsed.source)
    from .hub import download_weights

    repo_id, revision = parsed
    folder, commit = download_weights(repo_id, revision)
    source = f"Hub repo {repo_id} @ {revision or 'main'} (commit {commit[:8]})" if commit else f"Hub repo {repo_id}"
    return load_folder(folder, device, variant_class, source)


def _as_hub_spec(repo: str) -> str:
    """A variant's ``default_repo`` is a Hub repo even where a local folder shares its first name."""
    return repo if repo.startswith(HUB_PREFIX) else HUB_PREFIX + repo


def explicit_choice(variant_class: type) -> str | None:
    env = "GANZOO_WEIGHTS_" + variant_class.name.upper().replace("-", "_")
    return os.environ.get(env) or None


def load_model(variant_class: type, weights: str | NamedModel | None = None, device="cpu") -> Model:
    """Resolve and load a variant's weights in the documented order (see module doc)."""
    explicit = weights or explicit_choice(variant_class)
    if explicit:
        return load_spec(explicit, variant_class, device)

    notes = []
    if variant_class.default_repo and os.environ.get("GANZOO_NO_DEFAULT_HUB") != "1":
        from .hub import hub_reachable

        if hub_reachable():
            try:
                return load_spec(_as_hub_spec(variant_class.default_repo), variant_class, device)
            except WeightsError as error:
                notes.append(f"the Hub repo {variant_class.default_repo} could not be used ({error})")
        else:
            notes.append("the Hub is offline")
    bundled = variant_class.bundled_weights()
    if bundled is not None and (Path(bundled) / CONFIG_FILE).exists():
        named = default_model(variant_class)
        model = load_folder(bundled, device, variant_class, source=named.source if named else BUNDLED_ORIGIN)
        if notes:
            model.source += f" ({'; '.join(notes)})"
        return model
    if variant_class.untrained_mode:
        model = random_model(variant_class, device)
        model.source = f"no trained weights: {variant_class.untrained_mode}"
        return model
    warnings.warn(f"{variant_class.name}: no trained weights found, using {RANDOM_SOURCE}. "
                  f"Train some with `ganzoo train {variant_class.name} ...` and pass --weights, "
                  f"or set GANZOO_WEIGHTS_{variant_class.name.upper()}.", RandomWeightsWarning, stacklevel=2)
    return random_model(variant_class, device)


def describe_default(variant_class: type) -> str:
    """Which weights ``load_model`` would try first, in words, without loading anything."""
    explicit = explicit_choice(variant_class)
    if explicit:
        return f"{explicit} (from GANZOO_WEIGHTS_{variant_class.name.upper()})"
    choices = []
    if variant_class.default_repo:
        choices.append(f"Hub {variant_class.default_repo}")
    bundled = variant_class.bundled_weights()
    if bundled is not None and (Path(bundled) / CONFIG_FILE).exists():
        named = default_model(variant_class)
        choices.append(f'bundled "{named.name}"' if named else "bundled")
    if choices:
        return ", then ".join(choices)
    if variant_class.untrained_mode:
        return f"none needed: {variant_class.untrained_mode}"
    return "none (untrained, random weights)"


def config_without_network(variant_class: type, weights: str | None = None):
    """The config the UI and CLI inputs are built from, found without any download: an
    explicit local folder's, a cached Hub copy's, the bundled weights', or the default.
    (A conditional GAN's class picker needs the class names before the weights load.)"""
    spec = weights or explicit_choice(variant_class)
    candidates = []
    if spec:
        try:
            parsed = parse_spec(spec, variant_class)
        except WeightsError:
            parsed = None
        if isinstance(parsed, Path):
            candidates.append(parsed)
        elif isinstance(parsed, NamedModel):
            candidates.append(parsed.folder)
        elif parsed is not None:
            candidates.append(_cached_folder(*parsed))
    if variant_class.bundled_weights() is not None:
        candidates.append(Path(variant_class.bundled_weights()))
    for folder in candidates:
        if folder is not None and (folder / CONFIG_FILE).exists():
            try:
                info = read_config(folder)
                if info["variant"] == variant_class.name:
                    return variant_class.config_from_dict(info["config"])
            except (UserError, ValueError, TypeError):
                continue
    return variant_class.Config()


def _cached_folder(repo_id: str, revision: str | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(repo_id, CONFIG_FILE, revision=revision)
    return Path(path).parent if isinstance(path, str) else None
