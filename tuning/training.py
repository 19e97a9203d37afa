"""LoRA fine-tuning of a causal LM with peft and transformers: a plain training loop, no ORM.

The loop runs on CUDA whenever it is there (bf16 autocast where supported), else MPS, else CPU. Loss is computed on
the output tokens only (the input is context). Every ``save_steps`` (and when told to stop) it writes a checkpoint:
the adapter plus optimizer, scheduler and step; ``train`` resumes from the newest one in its work directory, and the
batch order of every epoch is a pure function of the seed, so a resumed run sees the batches it had not seen yet.
torch, transformers and peft are imported only here, and only when a job runs.
"""

import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .hyperparameters import Hyperparameters

CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"
STATE_FILE = "trainer_state.pt"
KEEP_CHECKPOINTS = 2


class TrainingError(RuntimeError):
    """The job cannot train: missing packages, an unloadable checkpoint, no usable example."""


@dataclass(frozen=True)
class TrainingSpec:
    base_location: str  # a checkpoint directory (or a Hub id when allowed)
    work_dir: Path  # checkpoints and the final adapter go here
    train: tuple[tuple[str, str], ...]  # (input, output), in the order to train on
    validation: tuple[tuple[str, str], ...] = ()
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    shuffle: bool = True  # False keeps the given order every epoch (the curriculum)
    device: str = "auto"
    local_files_only: bool = True


@dataclass(frozen=True)
class StepRecord:
    step: int
    total_steps: int
    epoch: float
    loss: float
    learning_rate: float
    validation_loss: float | None = None


@dataclass(frozen=True)
class TrainingResult:
    stopped: bool  # told to stop before the last step (cancelled); a checkpoint holds where it was
    last_step: int
    total_steps: int
    adapter_dir: Path | None  # the final adapter (None when stopped)
    device: str
    resumed_from: int  # the checkpoint's step this run started after (0: from scratch)
    steps_per_second: float
    final_loss: float | None
    final_validation_loss: float | None


class TrainingCallbacks:
    """What a training run reports; ``on_step`` returning False stops it (after a checkpoint)."""

    def on_stage(self, stage: str) -> None:
        pass

    def on_start(self, *, total_steps: int, start_step: int, device: str) -> None:
        pass

    def on_step(self, record: StepRecord) -> bool:
        return True

    def on_checkpoint(self, step: int, path: Path) -> None:
        pass


def ml_modules():
    try:
        import peft
        import torch
        import transformers
    except ImportError as exc:
        raise TrainingError(
            'Tuning needs torch, transformers and peft: pip install -e ".[ml]" (or "codequalbench[ml]").'
        ) from exc
    return torch, transformers, peft


def select_device(torch, preference: str = "auto") -> str:
    """``auto``: cuda when present, then mps, then cpu; a named device must exist."""
    mps = getattr(torch.backends, "mps", None)
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": bool(mps and mps.is_available())}
    if preference != "auto":
        if not available.get(preference):
            raise TrainingError(f"HF_DEVICE is {preference}, but this machine has no {preference}.")
        return preference
    return next(d for d in ("cuda", "mps", "cpu") if available[d])


def _autocast(torch, device: str):
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def load_base(location: str, *, device: str = "cpu", local_files_only: bool = True, training: bool = False):
    """(model, tokenizer) of a base checkpoint; on CUDA in bf16 where supported (adapters stay float32)."""
    torch, transformers, _ = ml_modules()
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(location, local_files_only=local_files_only)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            location, local_files_only=local_files_only, dtype=dtype
        )
    except (OSError, ValueError, KeyError) as exc:
        raise TrainingError(f"Cannot load {location}: {str(exc)[:500]}") from exc
    model.to(device)
    model.train(training)
    return model, tokenizer


def _lora(peft, model, hp: Hyperparameters):
    def config(targets):
        return peft.LoraConfig(
            r=hp.lora_r,
            lora_alpha=hp.lora_alpha,
            lora_dropout=hp.lora_dropout,
            target_modules=targets,
            task_type="CAUSAL_LM",
        )

    try:
        return peft.get_peft_model(model, config(list(hp.target_modules) or None))
    except ValueError:
        if hp.target_modules:
            raise
        # peft knows no default for this architecture: adapt every linear layer but the output head.
        return peft.get_peft_model(model, config("all-linear"))


def encode(tokenizer, pairs, max_length: int) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per pair: the output (and EOS) is learned, the input only read; long inputs lose their
    beginning first. Pairs whose output leaves no token to learn are dropped."""
    eos = tokenizer.eos_token_id
    encoded = []
    for text_in, text_out in pairs:
        ids_in = tokenizer(text_in).input_ids
        ids_out = tokenizer(text_out, add_special_tokens=False).input_ids + ([eos] if eos is not None else [])
        ids_out = ids_out[: max_length - 1]
        ids_in = ids_in[max(0, len(ids_in) - (max_length - len(ids_out))) :]
        if not ids_out:
            continue
        encoded.append((ids_in + ids_out, [-100] * len(ids_in) + ids_out))
    return encoded


def _collate(torch, rows, pad_id: int, device: str):
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, row_labels) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(ids)] = torch.tensor(row_labels)
        mask[i, : len(ids)] = 1
    return input_ids.to(device), mask.to(device), labels.to(device)


def epoch_order(count: int, epoch: int, seed: int, shuffle: bool) -> list[int]:
    order = list(range(count))
    if shuffle:
        random.Random(seed * 100_003 + epoch).shuffle(order)  # noqa: S311 - a reproducible order, not a secret
    return order


def checkpoints(work_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = Path(work_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    done = [p for p in root.iterdir() if p.name.startswith("step-") and (p / STATE_FILE).is_file()]
    return sorted(done, key=lambda p: int(p.name.split("-", 1)[1]))


def latest_checkpoint(work_dir: Path) -> Path | None:
    found = checkpoints(work_dir)
    return found[-1] if found else None


class _Run:
    """One training run's state: model, optimizer, scheduler, data."""

    def __init__(self, spec: TrainingSpec, callbacks: TrainingCallbacks):
        self.torch, self.transformers, self.peft = ml_modules()
        self.spec, self.hp, self.callbacks = spec, spec.hyperparameters, callbacks
        self.device = select_device(self.torch, spec.device)
        callbacks.on_stage("loading")
        base, self.tokenizer = load_base(
            spec.base_location, device=self.device, local_files_only=spec.local_files_only, training=True
        )
        positions = getattr(base.config, "max_position_embeddings", None) or getattr(base.config, "n_positions", None)
        max_length = min(self.hp.max_length, positions) if isinstance(positions, int) else self.hp.max_length
        self.train_rows = encode(self.tokenizer, spec.train, max_length)
        self.validation_rows = encode(self.tokenizer, spec.validation, max_length)
        if not self.train_rows:
            raise TrainingError("The dataset has no training example with an output to learn.")
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        self.pad_id = pad if pad is not None else 0
        self.torch.manual_seed(self.hp.seed)
        self.model = _lora(self.peft, base, self.hp)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = self.torch.optim.AdamW(trainable, lr=self.hp.learning_rate, weight_decay=self.hp.weight_decay)
        self.steps_per_epoch = math.ceil(len(self.train_rows) / self.hp.batch_size)
        total = self.steps_per_epoch * self.hp.epochs
        self.total_steps = min(total, self.hp.max_steps) if self.hp.max_steps else total
        self.scheduler = self.transformers.get_linear_schedule_with_warmup(
            self.optimizer,
            num_warmup_steps=min(self.hp.warmup_steps, self.total_steps),
            num_training_steps=self.total_steps,
        )

    def batch(self, step: int):
        epoch, index = divmod(step - 1, self.steps_per_epoch)
        order = epoch_order(len(self.train_rows), epoch, self.hp.seed, self.spec.shuffle)
        chosen = order[index * self.hp.batch_size : (index + 1) * self.hp.batch_size]
        return self.torch, [self.train_rows[i] for i in chosen]

    def train_step(self, step: int) -> float:
        torch, rows = self.batch(step)
        input_ids, mask, labels = _collate(torch, rows, self.pad_id, self.device)
        self.model.train()
        with _autocast(torch, self.device):
            loss = self.model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach().float().item())

    def validation_loss(self) -> float | None:
        if not self.validation_rows:
            return None
        torch = self.torch
        self.model.eval()
        total, tokens = 0.0, 0
        with torch.no_grad(), _autocast(torch, self.device):
            for start in range(0, len(self.validation_rows), self.hp.batch_size):
                rows = self.validation_rows[start : start + self.hp.batch_size]
                input_ids, mask, labels = _collate(torch, rows, self.pad_id, self.device)
                count = int((labels[:, 1:] != -100).sum())
                if count:
                    loss = self.model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
                    total += float(loss.float()) * count
                    tokens += count
        return total / tokens if tokens else None

    def save_checkpoint(self, step: int) -> Path:
        root = Path(self.spec.work_dir) / CHECKPOINTS
        final = root / f"step-{step:08d}"
        partial = root / f".partial-{step:08d}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        self.model.save_pretrained(partial / ADAPTER)
        state = {"step": step, "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}
        self.torch.save(state, partial / STATE_FILE)
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        for old in checkpoints(self.spec.work_dir)[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(old, ignore_errors=True)
        self.callbacks.on_checkpoint(step, final)
        return final

    def restore(self) -> int:
        found = latest_checkpoint(self.spec.work_dir)
        if found is None:
            return 0
        from safetensors.torch import load_file

        weights = found / ADAPTER / "adapter_model.safetensors"
        self.peft.set_peft_model_state_dict(self.model, load_file(str(weights), device=self.device))
        state = self.torch.load(found / STATE_FILE, map_location=self.device, weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        return int(state["step"])


def train(spec: TrainingSpec, callbacks: TrainingCallbacks | None = None) -> TrainingResult:
    """Train a LoRA adapter on ``spec``, resuming from the newest checkpoint in ``spec.work_dir``."""
    callbacks = callbacks or TrainingCallbacks()
    run = _Run(spec, callbacks)
    hp = run.hp
    start = run.restore()
    callbacks.on_start(total_steps=run.total_steps, start_step=start, device=run.device)
    callbacks.on_stage("training")
    run.torch.manual_seed(hp.seed + start)
    began, loss, validation = time.monotonic(), None, None
    step = start
    for step in range(start + 1, run.total_steps + 1):
        loss = run.train_step(step)
        last = step == run.total_steps
        validation = run.validation_loss() if (step % hp.evaluation_steps == 0 or last) else None
        record = StepRecord(
            step=step,
            total_steps=run.total_steps,
            epoch=round(step / run.steps_per_epoch, 4),
            loss=loss,
            learning_rate=float(run.scheduler.get_last_lr()[0]),
            validation_loss=validation,
        )
        keep_going = callbacks.on_step(record)
        if not keep_going or (step % hp.save_steps == 0 and not last):
            run.save_checkpoint(step)
        if not keep_going:
            return _result(run, True, step, None, start, began, loss, validation)
    callbacks.on_stage("saving")
    adapter_dir = Path(spec.work_dir) / ADAPTER
    shutil.rmtree(adapter_dir, ignore_errors=True)
    run.model.save_pretrained(adapter_dir)
    run.tokenizer.save_pretrained(adapter_dir)
    return _result(run, False, step, adapter_dir, start, began, loss, validation)


def _result(run: _Run, stopped, step, adapter_dir, start, began, loss, validation) -> TrainingResult:
    elapsed = time.monotonic() - began
    done = step - start
    return TrainingResult(
        stopped=stopped,
        last_step=step,
        total_steps=run.total_steps,
        adapter_dir=adapter_dir,
        device=run.device,
        resumed_from=start,
        steps_per_second=round(done / elapsed, 3) if elapsed > 0 and done else 0.0,
        final_loss=loss,
        final_validation_loss=validation,
    )


def load_tuned(base_location: str, adapter_dir: Path, *, device: str = "cpu", local_files_only: bool = True):
    """(base + adapter as a PeftModel, tokenizer), for inference."""
    _, _, peft = ml_modules()
    base, tokenizer = load_base(base_location, device=device, local_files_only=local_files_only)
    model = peft.PeftModel.from_pretrained(base, str(adapter_dir))
    model.eval()
    return model, tokenizer


def merge_adapter(base_location: str, adapter_dir: Path, out_dir: Path, *, local_files_only: bool = True) -> Path:
    """Write base + adapter, merged, as a plain checkpoint directory (what the ``hf`` backend loads)."""
    model, tokenizer = load_tuned(base_location, adapter_dir, device="cpu", local_files_only=local_files_only)
    merged = model.merge_and_unload()
    partial = out_dir.with_name(f".partial-{out_dir.name}")
    shutil.rmtree(partial, ignore_errors=True)
    merged.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(out_dir, ignore_errors=True)
    partial.rename(out_dir)
    return out_dir
