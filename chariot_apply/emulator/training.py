"""How a run trains in the emulator: a small deterministic model of a blueprint's training, per blueprint family.

Real runs differ as their configs do, and the tool is judged on real runs: a sweep must give different curves and
one clear best, a too-high learning rate must diverge, a batch too big for the memory must fail. So the loss here
falls at a rate set by the learning rate (best at the family's usual rate, slower below it, noisier above it, NaN
well above it), more epochs go further, bigger batches mean fewer steps per epoch, and a larger model reaches a
lower floor. Noise is seeded by the run id, so a run's curve is the same on every read. The tags, progress
operations and checkpoint period are those the public blueprints report (``chariot-blueprint-facts.md``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from chariot_apply.chariot.quantity import QuantityError, parse_quantity

#: Samples in a dataset the emulator knows nothing about (a catalog can name others): with the usual batch of 32,
#: ten steps an epoch.
DEFAULT_DATASET_SIZE = 320
GIB = 1024**3
#: The classes a detector reports on when its config names none.
DEFAULT_LABELS = ("car", "truck", "person")
#: A learning rate this many times the family's usual one diverges.
DIVERGES_ABOVE = 20.0
#: Memory a GPU of each type has (what a batch must fit in when the run asks for GPUs).
GPU_MEMORY_GIB = {"A100": 80.0, "H100": 80.0, "L4": 24.0, "T4": 16.0}


@dataclass(frozen=True)
class Family:
    """What blueprints of one kind have in common: their usual learning rate, losses and tags."""

    name: str
    usual_rate: float
    start_loss: float
    default_batch: int
    #: model name -> (the loss it levels off at, GiB of memory the model itself needs, GiB per sample of a batch)
    models: dict[str, tuple[float, float, float]]
    default_model: str
    rate_per_epoch: float


FAMILIES = {
    "classification": Family("classification", 1e-3, 2.3, 32, {
        "resnet18": (0.35, 0.2, 0.008), "resnet50": (0.25, 0.3, 0.01), "efficientnet-b0": (0.28, 0.25, 0.01),
        "vit-b16": (0.2, 0.6, 0.02)}, "resnet50", 0.6),
    "detection": Family("detection", 1e-2, 1.8, 16, {
        "yolov8n": (0.9, 0.3, 0.02), "yolov8s": (0.75, 0.4, 0.03), "yolov8m": (0.65, 0.6, 0.05),
        "faster-rcnn-r50": (0.7, 0.8, 0.06), "yolo-obb": (0.8, 0.35, 0.025)}, "yolo-obb", 0.35),
    "text": Family("text", 2e-4, 2.2, 8, {
        "llama-3.1-8b": (0.9, 16.0, 0.5), "mistral-7b": (0.95, 14.0, 0.5), "qwen2.5-7b": (0.92, 14.0, 0.5),
        "phi-3-mini": (1.1, 7.5, 0.25), "bert-base": (0.3, 0.4, 0.01), "roberta-base": (0.28, 0.4, 0.01),
        "deberta-v3-small": (0.3, 0.3, 0.01)}, "roberta-base", 0.8),
}


def family_of(task_type: str) -> Family:
    lowered = task_type.lower()
    if "detection" in lowered or "segmentation" in lowered:
        return FAMILIES["detection"]
    if "text" in lowered or "language" in lowered or "generation" in lowered:
        return FAMILIES["text"]
    return FAMILIES["classification"]


@dataclass(frozen=True)
class Recipe:
    """What a run's config makes of its training; every figure the lifecycle needs, worked out once."""

    family: Family
    model: str
    learning_rate: float
    batch_size: int
    steps_per_epoch: int
    total_steps: int
    checkpoint_every: int  # steps
    log_every: int  # steps between training metrics
    evaluate_every: int  # steps between validation passes
    eval_batches: int
    datasets: tuple[tuple[str, str], ...]  # (snapshot id, split) validated on
    labels: tuple[str, ...]
    memory_needed_gib: float
    start_model: dict[str, Any] | None

    @property
    def diverges(self) -> bool:
        return self.learning_rate > self.family.usual_rate * DIVERGES_ABOVE

    @property
    def nan_step(self) -> int | None:
        """The step at which a diverging run's loss is no longer a number."""
        return min(self.total_steps, max(2, self.steps_per_epoch // 2 + 1)) if self.diverges else None


def _number(config: dict[str, Any], key: str, default: float) -> float:
    value = config.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else default


def _datasets(config: dict[str, Any]) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    """The training snapshots, and the (snapshot, split) pairs a validation pass reports on."""
    sets = config.get("datasets")
    if isinstance(sets, dict):
        train = [d for d in sets.get("train_data") or [] if isinstance(d, dict)]
        val = [d for d in sets.get("val_data") or [] if isinstance(d, dict)] or train
        return ([str(d.get("snapshot_id")) for d in train],
                tuple((str(d.get("snapshot_id")), str(d.get("split") or "val")) for d in val))
    dataset = str(config.get("dataset_id") or "dataset")
    return [dataset], ((dataset, "val"),)


def recipe(task_type: str, config: dict[str, Any], dataset_sizes: dict[str, int] | None = None) -> Recipe:
    """The training a config describes; ``dataset_sizes`` by snapshot id (others have ``DEFAULT_DATASET_SIZE``)."""
    family = family_of(task_type)
    sizes = dataset_sizes or {}
    model = next((str(config[k]) for k in ("architecture", "model", "base_model", "backbone")
                  if isinstance(config.get(k), str) and config[k] in family.models), family.default_model)
    rate = _number(config, "learning_rate", family.usual_rate)
    rate = _number(config, "lr0", rate)
    batch = max(1, int(_number(config, "batch_size", family.default_batch)))
    train, val = _datasets(config)
    samples = sum(sizes.get(d, DEFAULT_DATASET_SIZE) for d in train) or DEFAULT_DATASET_SIZE
    steps_per_epoch = math.ceil(samples / batch)
    max_steps = config.get("max_steps")
    if isinstance(max_steps, int) and not isinstance(max_steps, bool) and max_steps > 0:
        total, steps_per_epoch = max_steps, max(1, max_steps // 10)  # step-driven: ten "epochs" of evaluation
    else:
        total = steps_per_epoch * max(1, int(_number(config, "epochs", 1)))
    period = max(1, int(_number(config, "ckpt_epoch_period", 1)))
    labels = config.get("idx_to_class")
    names = tuple(str(v) for v in labels.values()) if isinstance(labels, dict) and labels else DEFAULT_LABELS
    _, model_gib, sample_gib = family.models[model]
    pixels = _number(config, "image_size", _number(config, "resize_to", 640))
    scale = (pixels / 640) ** 2 if family.name == "detection" else 1.0
    start = config.get("start_model")
    return Recipe(family=family, model=model, learning_rate=rate, batch_size=batch, steps_per_epoch=steps_per_epoch,
                  total_steps=total, checkpoint_every=steps_per_epoch * period,
                  log_every=max(1, steps_per_epoch // 10), evaluate_every=steps_per_epoch,
                  eval_batches=max(1, math.ceil(sum(sizes.get(d, DEFAULT_DATASET_SIZE) // 5 for d, _ in val) / batch)),
                  datasets=val, labels=names, memory_needed_gib=round(model_gib + batch * sample_gib * scale, 2),
                  start_model=start if isinstance(start, dict) else None)


def memory_available_gib(memory: str | None, gpu: tuple[str, int] | None) -> float | None:
    """What a batch must fit in: the GPUs' memory when the run asks for GPUs, else the container's."""
    if gpu is not None:
        per = GPU_MEMORY_GIB.get(gpu[0].upper())
        return None if per is None else per * gpu[1]
    if memory is None:
        return None
    try:
        return float(parse_quantity(memory).value) / GIB
    except QuantityError:
        return None


def _noise(seed: str, step: int, salt: str = "") -> float:
    """A deterministic number in [-1, 1) for this run and step."""
    digest = hashlib.blake2b(f"{seed}:{step}:{salt}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") / 2**31 - 1.0


def _clean(value: float) -> float | None:
    """As a blueprint sends it: a non-finite value is null."""
    return round(value, 6) if math.isfinite(value) else None


def loss(r: Recipe, step: int, seed: str) -> float:
    """The training loss after ``step`` steps (NaN once a diverging run has blown up)."""
    epochs = step / r.steps_per_epoch
    ratio = r.learning_rate / r.family.usual_rate
    if r.diverges:
        nan = r.nan_step or 1
        return math.nan if step >= nan else r.family.start_loss * (1 + 3 * step / nan) ** 2
    floor = r.family.models[r.model][0] * (1 + 0.6 * math.log10(ratio) ** 2)
    speed = r.family.rate_per_epoch * min(ratio, 1.0) ** 0.7
    wobble = 0.02 + 0.06 * max(0.0, math.log10(ratio))  # above the usual rate: noisier
    value = floor + (r.family.start_loss - floor) * math.exp(-speed * epochs)
    return value * (1 + wobble * _noise(seed, step))


def training_metrics(r: Recipe, step: int, seed: str) -> dict[str, float | None]:
    """What a blueprint logs every ``log_every`` steps."""
    value = loss(r, step, seed)
    warmup = min(1.0, step / max(1, r.steps_per_epoch))
    out = {"train/loss": _clean(value), "train/lr": _clean(r.learning_rate * warmup)}
    if r.family.name == "detection":
        out |= {"train/box_loss": _clean(value * 0.55), "train/cls_loss": _clean(value * 0.3)}
    return out


def validation_metrics(r: Recipe, step: int, seed: str) -> dict[str, float | None]:
    """A validation pass: many tags at one step, some null (a class with no detections yet has no AP)."""
    value = loss(r, step, seed) * (1.05 + 0.03 * _noise(seed, step, "val"))
    start = r.family.start_loss
    skill = max(0.0, min(1.0, (start - value) / start)) if math.isfinite(value) else math.nan
    epoch = step // r.steps_per_epoch
    if r.family.name == "detection":
        out = {"val/box_loss": _clean(value * 0.55), "val/cls_loss": _clean(value * 0.3),
               "metrics/precision(B)": _clean(0.2 + 0.7 * skill), "metrics/recall(B)": _clean(0.15 + 0.7 * skill),
               "metrics/mAP50(B)": _clean(0.9 * skill), "metrics/mAP50-95(B)": _clean(0.6 * skill)}
        for snapshot, split in r.datasets:
            out[f"{snapshot}/{split}/mAP_IOU0.5"] = _clean(0.9 * skill * (1 + 0.02 * _noise(seed, step, snapshot)))
            for i, label in enumerate(r.labels):
                rare = i == len(r.labels) - 1 and epoch <= 1  # nothing of the rarest class found yet
                out[f"{snapshot}/{split}/{label}_AP_IOU0.5"] = None if rare else _clean(0.9 * skill * (1 - 0.1 * i))
        return out
    prefix = "eval" if r.family.name == "text" else "val"
    out = {f"{prefix}/loss": _clean(value), f"{prefix}/accuracy": _clean(0.1 + 0.85 * skill)}
    for snapshot, split in r.datasets:
        out[f"{snapshot}/{split}/accuracy"] = _clean(0.1 + 0.85 * skill * (1 + 0.01 * _noise(seed, step, snapshot)))
    return out
