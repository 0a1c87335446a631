"""Train an emotion network on FER2013: a ResNet9, or another family (``--arch``: edge.models.emotion_net).

The recipe starts from the seed project's (one-cycle LR, weight decay, gradient
clipping, flips and rotations) and adds what raises accuracy on FER2013:
scale/shift jitter, random erasing (partly covered faces), label smoothing and
test-time views (flips while training; :func:`edge.emotion.tta_views`). Each
epoch is seeded from ``(seed, epoch)``, so a run resumed from its last
checkpoint continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from edge.emotion import tta_views
from edge.models.emotion_net import ARCHITECTURES, count_macs, emotion_net_from_state
from edge.models.labels import CLASS_SETS
from edge.models.packed_state import load_state
from training.emotion.augment import AugmentConfig, augment_batch, mix_batch
from training.emotion.fer import FerArrays, load_fer
from training.metrics import classification_report, plot_confusion, plot_curves

log = logging.getLogger(__name__)


@dataclass
class EmotionTrainConfig:
    """Everything a run depends on; saved into every checkpoint."""

    train: str
    val: str
    out: str = "runs/emotion"
    classes: str = "fer7"
    arch: str = "resnet9"  # resnet9, xception, descriptor or expression (edge.models: other families, for ensembles)
    width: int = 128  # the full-width network is the GPU default; CPU runs pass --width 32
    epochs: int = 40
    batch_size: int = 128
    optimizer: str = "sgd"  # sgd (Nesterov) or adam (the seed project's)
    max_lr: float = 0.1
    weight_decay: float = 5e-4
    grad_clip: float = 0.1  # clip by value, as in the seed recipe
    label_smoothing: float = 0.1
    dropout: float = 0.5
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # 0: torch's default
    limit_per_class: Optional[int] = None  # small runs for tests
    init_from: Optional[str] = None  # start from these weights (a state_dict file) instead of random ones
    augment: Dict[str, object] = field(default_factory=dict)
    # Mixing faces of a batch (training.emotion.augment.mix_batch): "none", "mixup" or "cutmix",
    # the weight drawn from Beta(mix_alpha, mix_alpha).
    mix: str = "none"
    mix_alpha: float = 0.4
    # Knowledge distillation: weights files of trained networks (any width, same classes) whose averaged
    # softened predictions on each augmented batch the student also learns, with weight distill_alpha.
    teachers: List[str] = field(default_factory=list)
    distill_alpha: float = 0.5
    distill_temperature: float = 4.0
    # Exponential moving average of the weights (and batch-norm statistics), updated every step; 0 turns it off.
    # Validated beside the trained weights each epoch; model.pt keeps whichever scores higher.
    ema_decay: float = 0.0


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class Ranks:
    """This process's place in a ``torchrun`` job (world 1: a plain single-process run)."""

    world: int = 1
    rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _start_distributed(device_name: str) -> Tuple[Ranks, torch.device]:
    """Join the process group when launched by ``torchrun`` (NCCL on GPUs, gloo on CPUs)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks(), pick_device(device_name)
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available() and device_name in ("auto", "cuda"):
        torch.cuda.set_device(local)
        device, backend = torch.device("cuda", local), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend)
    return Ranks(world, dist.get_rank()), device


def _grad_scaler(device: torch.device):
    """fp16 gradients need loss scaling on CUDA; on the CPU (bf16) the scaler is a pass-through."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
    return torch.cuda.amp.GradScaler(enabled=device.type == "cuda")  # torch < 2.3


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX). Without it bf16 is emulated: measured
    10-20x slower than fp32 for a ResNet9 on an AVX2-only AMD EPYC, where it halves time on AVX-512 BF16 Xeons."""
    if torch.backends.cpu.get_cpu_capability() not in ("AVX512", "AVX512_BF16", "AMX"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _autocast(device: torch.device):
    # fp16 on CUDA; bf16 on CPUs that have it natively; plain fp32 elsewhere.
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=cpu_has_fast_bf16())


def to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, 48, 48)`` -> float ``(N, 1, 48, 48)`` in [0, 1] (the model's input spec)."""
    return torch.from_numpy(images).float().div_(255.0).unsqueeze(1)


@torch.no_grad()
def predict_probs(
    model: torch.nn.Module, images: np.ndarray, batch_size: int = 512, tta: str = "flip", device: str = "cpu"
) -> np.ndarray:
    """Softmax probabilities averaged over the test-time views ``tta`` (see :func:`edge.emotion.tta_views`).

    Runs channels-last, converting ``model`` in place (the same weights): 1.3x faster on the CPU."""
    model.eval().to(memory_format=torch.channels_last)
    out = []
    for start in range(0, len(images), batch_size):
        faces = images[start : start + batch_size].astype(np.float32)[:, None] / 255.0
        views = tta_views(faces, tta)
        p = sum(
            F.softmax(model(torch.from_numpy(v).to(device, memory_format=torch.channels_last)).float(), dim=1)
            for v in views
        ) / len(views)
        out.append(p.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def _make_optimizer(cfg: EmotionTrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=cfg.max_lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.max_lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; use sgd or adam")


def _evaluate(model: torch.nn.Module, data: FerArrays, device: torch.device) -> Tuple[float, float, np.ndarray]:
    probs = predict_probs(model, data.images, tta="flip", device=str(device))
    labels = torch.from_numpy(data.labels)
    loss = F.nll_loss(torch.log(torch.from_numpy(probs).clamp_min(1e-8)), labels).item()
    pred = probs.argmax(1)
    return loss, float((pred == data.labels).mean()), pred


def build_model(cfg: EmotionTrainConfig) -> torch.nn.Module:
    """A fresh network of the run's family, width and classes."""
    family = ARCHITECTURES[cfg.arch]
    return family(num_classes=len(CLASS_SETS[cfg.classes]), width=cfg.width, dropout=cfg.dropout)


def emotion_net_from_weights(path: Path) -> torch.nn.Module:
    """The network a weights file (state_dict) holds: one network of any family, or an average of several, at
    the widths and number of classes its shapes say, in eval mode."""
    return emotion_net_from_state(torch.load(path, map_location="cpu", weights_only=True))


def load_teachers(paths: List[str], num_classes: int, device: torch.device) -> List[torch.nn.Module]:
    """The distillation teachers, frozen; a ValueError naming the file when one has other classes."""
    teachers = []
    for path in paths:
        net = emotion_net_from_weights(Path(path))
        if net.num_classes != num_classes:
            raise ValueError(
                f"teacher {path} predicts {net.num_classes} classes, this run trains {num_classes}: "
                "distil from a network trained on the same class set"
            )
        teachers.append(net.to(device, memory_format=torch.channels_last).requires_grad_(False))
    return teachers


def distillation_loss(
    student_logits: torch.Tensor, teachers: List[torch.nn.Module], x: torch.Tensor, temperature: float
) -> torch.Tensor:
    """KL divergence from the teachers' mean softened prediction on ``x`` to the student's (Hinton et al.),
    scaled by T^2 so its gradients keep their size whatever the temperature."""
    with torch.no_grad():
        target = sum(F.softmax(t(x).float() / temperature, dim=1) for t in teachers) / len(teachers)
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    return F.kl_div(log_student, target, reduction="batchmean") * temperature**2


def weight_average(model: torch.nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel:
    """An exponential moving average of ``model``'s weights and buffers (torch's AveragedModel).

    Mid-run, a one-cycle schedule's high learning rate keeps the trained weights noisy; their average over the
    last few hundred steps is a better network (measured on the w64 run: 65.3% vs 62.5% on PublicTest at
    epoch 46 of 80). The first update copies the weights, so a run resumed from a checkpoint without an
    average starts one there."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    if not 0.0 < decay < 1.0:
        raise ValueError(f"ema_decay must be between 0 and 1 (e.g. 0.998), not {decay}")
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def epoch_line(record: Dict[str, float]) -> str:
    """One epoch's record as the JSON line the log and ``epochs.jsonl`` show (4 decimals)."""
    return json.dumps({k: round(v, 4) for k, v in record.items()})


def write_epochs(history: List[Dict[str, float]], path: Path) -> None:
    """One JSON line per epoch (losses, accuracies, learning rate, elapsed time): readable without torch."""
    path.write_text("".join(epoch_line(record) + "\n" for record in history))


def train_emotion(cfg: EmotionTrainConfig, resume: bool = False, stop_after: Optional[int] = None) -> Dict[str, object]:
    """Train, checkpoint every epoch to ``out/last.pt``, keep the best on val as ``out/model.pt``.

    ``stop_after`` ends this call after that many epochs of the schedule (to
    split a long run into chunks; continue with ``resume``). Returns the
    final metrics (also written to ``out/metrics.json``), or the history so
    far when stopped early.

    Under ``torchrun --nproc-per-node N -m training emotion ...`` each batch of
    ``batch_size`` faces is split across the N processes (DistributedDataParallel
    averages the gradients), so the schedule and the results match a single-process
    run; only rank 0 evaluates and writes files.
    """
    ranks, device = _start_distributed(cfg.device)
    if ranks.world == 1:
        return _train(cfg, ranks, device, resume, stop_after)
    import torch.distributed as dist

    try:
        result = _train(cfg, ranks, device, resume, stop_after)
        # Leave together: a rank that tore the group down while rank 0 still evaluated and wrote files
        # was aborted by gloo ("terminate called without an active exception"), failing the whole launch.
        dist.barrier()
        return result
    finally:
        dist.destroy_process_group()


def _train(
    cfg: EmotionTrainConfig, ranks: Ranks, device: torch.device, resume: bool, stop_after: Optional[int]
) -> Dict[str, object]:
    torch.set_flush_denormal(True)  # denormal weights made CPU convs up to 25x slower
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    classes = CLASS_SETS[cfg.classes]
    train = load_fer(Path(cfg.train), classes=classes)
    val = load_fer(Path(cfg.val), classes=classes, usage=("PublicTest",))
    if cfg.limit_per_class:
        keep = np.concatenate([np.flatnonzero(train.labels == k)[: cfg.limit_per_class] for k in range(len(classes))])
        train = train.subset(keep)
    if ranks.main:
        log.info("train %d faces %s, val %d faces", len(train), train.class_counts(), len(val))
        if ranks.world > 1:
            log.info(
                "distributed: %d processes on %s, %d faces each per step",
                ranks.world,
                device.type,
                cfg.batch_size // ranks.world,
            )

    torch.manual_seed(cfg.seed)  # same initial weights for the same seed
    model = build_model(cfg)
    if cfg.init_from:
        # A family that starts from another network's weights (the descriptor's trunk) says how to load them.
        load = getattr(model, "load_pretrained", model.load_state_dict)
        load(load_state(Path(cfg.init_from)))
    if ranks.world > 1 and device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    # Channels-last: the CPU's convolutions and max-pooling run 1.35x faster per training step that way
    # (ResNet9 w48, batch 128, 2 threads); on GPUs it is the layout tensor cores want.
    model = model.to(device, memory_format=torch.channels_last)
    stepper = model  # what the training steps call: the DDP wrapper when distributed
    if ranks.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        stepper = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = _make_optimizer(cfg, model)
    scaler = _grad_scaler(device)
    steps_per_epoch = (len(train) + cfg.batch_size - 1) // cfg.batch_size
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.max_lr, epochs=cfg.epochs, steps_per_epoch=steps_per_epoch
    )
    aug_cfg = AugmentConfig(**cfg.augment)
    average = weight_average(model, cfg.ema_decay) if cfg.ema_decay else None
    history: List[Dict[str, float]] = []
    best_acc, start_epoch = -1.0, 0
    last = out / "last.pt"
    if resume and last.exists():
        state = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        if average is not None and "ema" in state:
            average.load_state_dict(state["ema"])
        history, best_acc, start_epoch = state["history"], state["best_acc"], state["epoch"]
        log.info("resumed from %s at epoch %d", last, start_epoch)

    criterion = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    teachers = load_teachers(cfg.teachers, len(classes), device)
    if teachers and ranks.main:
        log.info(
            "distilling from %d teacher(s), alpha %.2f, T %.1f",
            len(teachers),
            cfg.distill_alpha,
            cfg.distill_temperature,
        )
    # Elapsed time counts across resumes: a run continued in another session reports its whole training time.
    started = time.time() - (history[-1]["elapsed_s"] if history else 0.0)
    last_epoch = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
    for epoch in range(start_epoch, last_epoch):
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout
        order = torch.randperm(len(train), generator=gen).numpy()
        model.train()
        seen, loss_sum, correct = 0, 0.0, 0
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            leave=False,
            mininterval=2,
            disable=not ranks.main,
        )
        for step in bar:
            batch = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            if len(batch) < ranks.world:
                continue  # a last batch too small to give every process a face
            idx = batch[ranks.rank :: ranks.world]
            x = augment_batch(to_input(train.images[idx]), aug_cfg, gen).to(device, memory_format=torch.channels_last)
            y = torch.from_numpy(train.labels[idx]).to(device)
            x, partner_y, lam = mix_batch(x, y, cfg.mix, cfg.mix_alpha, gen)
            with _autocast(device):
                logits = stepper(x)
                loss = criterion(logits.float(), y)
                if lam < 1.0:
                    loss = lam * loss + (1 - lam) * criterion(logits.float(), partner_y)
                if teachers:
                    soft = distillation_loss(logits.float(), teachers, x, cfg.distill_temperature)
                    loss = (1 - cfg.distill_alpha) * loss + cfg.distill_alpha * soft
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_value_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            if average is not None:
                average.update_parameters(model)
            seen += len(idx)
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        if ranks.world > 1:
            import torch.distributed as dist

            totals = torch.tensor([seen, loss_sum, correct], dtype=torch.float64, device=device)
            dist.all_reduce(totals)
            seen, loss_sum, correct = int(totals[0]), float(totals[1]), int(totals[2])
        if not ranks.main:
            continue  # rank 0 evaluates, keeps the best and writes the checkpoint
        val_loss, val_acc, _ = _evaluate(model, val, device)
        # The network this epoch offers as the best: the trained weights, or their average when it scores higher.
        candidate, candidate_acc = model, val_acc
        record = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / seen,
            "train_acc": correct / seen,
            "train_faces": seen,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": scheduler.get_last_lr()[0],
        }
        if average is not None:
            record["ema_val_loss"], record["ema_val_acc"], _ = _evaluate(average.module, val, device)
            if record["ema_val_acc"] > candidate_acc:
                candidate, candidate_acc = average.module, record["ema_val_acc"]
        record["elapsed_s"] = time.time() - started
        history.append(record)
        log.info("epoch %d: %s", epoch + 1, epoch_line(record))
        if candidate_acc > best_acc:
            best_acc = candidate_acc
            torch.save(candidate.state_dict(), out / "model.pt")
        # Written last and atomically: an interrupted save never leaves a broken checkpoint.
        tmp = out / "last.pt.tmp"
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                **({"ema": average.state_dict()} if average is not None else {}),
                "history": history,
                "best_acc": best_acc,
                "epoch": epoch + 1,
                "config": asdict(cfg),
            },
            tmp,
        )
        tmp.replace(last)
        plot_curves(history, out / "curves.png")
        write_epochs(history, out / "epochs.jsonl")

    if not ranks.main:
        return {"rank": ranks.rank}
    if last_epoch < cfg.epochs:
        return {"history": history, "best_val_acc": best_acc, "stopped_after": last_epoch}
    best = build_model(cfg)
    best.load_state_dict(torch.load(out / "model.pt", map_location="cpu", weights_only=True))
    _, _, pred = _evaluate(best, val, torch.device("cpu"))
    report = classification_report(val.labels, pred, classes)
    plot_confusion(report, out / "confusion_val.png", title="Validation (PublicTest)")
    metrics = {
        "config": asdict(cfg),
        "params": sum(p.numel() for p in best.parameters()),
        "macs": count_macs(best),
        "best_val_acc": best_acc,
        "val": report,
        "history": history,
        "train_time_s": sum(h["elapsed_s"] for h in history[-1:]),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
