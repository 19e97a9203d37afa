"""Tuning hyperparameters: the defaults, and validation of what a request overrides (pure)."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Hyperparameters:
    learning_rate: float = 5e-5
    batch_size: int = 8
    epochs: int = 3
    warmup_steps: int = 100
    evaluation_steps: int = 50  # validation loss every this many steps (and at the end)
    save_steps: int = 1000  # a resumable checkpoint every this many steps (and when stopped)
    max_steps: int = 0  # 0: epochs decide
    max_length: int = 512  # tokens per example (input + output)
    weight_decay: float = 0.0
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ()  # empty: peft's default for the architecture, else every linear layer
    seed: int = 0

    def as_dict(self) -> dict:
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data


# name -> (type, lowest, highest)
_BOUNDS = {
    "learning_rate": (float, 1e-8, 1.0),
    "batch_size": (int, 1, 1024),
    "epochs": (int, 1, 1000),
    "warmup_steps": (int, 0, 1_000_000),
    "evaluation_steps": (int, 1, 1_000_000),
    "save_steps": (int, 1, 1_000_000),
    "max_steps": (int, 0, 10_000_000),
    "max_length": (int, 8, 131_072),
    "weight_decay": (float, 0.0, 1.0),
    "lora_r": (int, 1, 1024),
    "lora_alpha": (int, 1, 4096),
    "lora_dropout": (float, 0.0, 0.9),
    "seed": (int, 0, 2**31 - 1),
}


class HyperparameterError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_hyperparameters(data: Mapping | None) -> Hyperparameters:
    """The defaults with ``data`` laid over them; HyperparameterError names every bad field."""
    data = dict(data or {})
    known = {f.name for f in fields(Hyperparameters)}
    errors = {key: f"Unknown hyperparameter (known: {', '.join(sorted(known))})." for key in data if key not in known}
    values = {}
    for name, (kind, low, high) in _BOUNDS.items():
        if name not in data:
            continue
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors[name] = "Must be a number."
        elif kind is int and not float(value).is_integer():
            errors[name] = "Must be a whole number."
        elif not low <= value <= high:
            errors[name] = f"Must be between {low:g} and {high:g}."
        else:
            values[name] = kind(value)
    if "target_modules" in data:
        modules = data["target_modules"]
        if isinstance(modules, str):
            modules = [m.strip() for m in modules.split(",") if m.strip()]
        if not isinstance(modules, list | tuple) or not all(isinstance(m, str) and m for m in modules):
            errors["target_modules"] = "Must be a list of module names, e.g. [q_proj, v_proj]."
        else:
            values["target_modules"] = tuple(modules)
    if errors:
        raise HyperparameterError(errors)
    return Hyperparameters(**values)


def from_stored(data: Mapping) -> Hyperparameters:
    values = dict(data)
    values["target_modules"] = tuple(values.get("target_modules") or ())
    return Hyperparameters(**values)
