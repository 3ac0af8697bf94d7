"""The interfaces a plugin's components implement: compressor, tuner, evaluator, meter.

Each is a ``typing.Protocol`` that doubles as a base class. Members with a body are *optional
abilities*: a component that subclasses the protocol inherits their defaults, and the core calls
them unconditionally (no ``getattr`` probing). A component that does not subclass must define
every member; :func:`check_component` says which one is missing when the component is built
during validation, before any model loads. Plugins import these from :mod:`greenprune.api`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from greenprune.compression import CompressJob
    from greenprune.context import PhaseOutput, RunContext
    from greenprune.modeling import ModelBundle
    from greenprune.results import EnergyReading
    from greenprune.structure.surgery import SurgeryEvent
    from greenprune.tasks import Task, TaskData

#: split -> metric -> value, e.g. ``{"dev": {"accuracy": 0.84, "f1": 0.88}}``
Metrics = dict[str, dict[str, float]]


@runtime_checkable
class Compressor(Protocol):
    """Turns ``job.current`` into a smaller model (kind ``compressor``)."""

    def compress(self, ctx: RunContext, job: CompressJob) -> PhaseOutput[ModelBundle]:
        """Return the compressed model (``value``) with the phase's details and trace.

        ``job.current`` is shared with later phases (it may be the fine-tuned teacher itself):
        clone it (``job.current.clone(...)``) before changing it. Call ``job.tuner.prepare(student)``
        before training so the run's tuner decides which weights train.
        """
        ...


@runtime_checkable
class Tuner(Protocol):
    """Decides which weights train after the teacher, and runs the post-compression phase
    (kind ``tuner``)."""

    def prepare(self, bundle: ModelBundle) -> None:
        """Choose which weights train (``requires_grad``), adding the tuner's own modules if it has
        any. Called in every training phase after the teacher (compressors call it on their
        student), so it must be idempotent."""
        ...

    def tune(self, ctx: RunContext, bundle: ModelBundle, task: Task, data: TaskData) -> PhaseOutput[ModelBundle]:
        """The post-compression training phase; return the tuned model and the phase's details."""
        ...

    # -- optional abilities (defaults inherited by subclasses) --------------------------------

    def train_overrides(self) -> dict[str, Any]:
        """``TrainConfig`` fields a compressor's training should use while this tuner's weights
        train (e.g. the adapters' larger learning rate). A compressor's own options win."""
        return {}

    def on_surgery(self, before: Any, after: Any, events: list[SurgeryEvent]) -> None:
        """Carry the tuner's own modules from ``before`` into ``after``, a model a compressor
        rebuilt (converted or physically shrunk). ``events`` say, per changed module, which input
        and output features stayed and which scales were folded in
        (:class:`~greenprune.structure.surgery.SurgeryEvent`); a module without an event kept its
        name and shape. A tuner never sees a compressor's masks."""
        return None

    def state_keys(self, model: Any) -> set[str]:
        """The state-dict keys of ``model`` that are the tuner's own modules, not the architecture's:
        a compressor that rebuilds the model (e.g. converts it to the compact encoder) leaves them
        out and lets :meth:`on_surgery` carry the modules over."""
        return set()


@runtime_checkable
class Evaluator(Protocol):
    """Scores a model on the task's dev splits (kind ``evaluator``)."""

    def evaluate(self, ctx: RunContext, bundle: ModelBundle, task: Task, data: TaskData) -> Metrics:
        """Return split -> metric -> value for every split in ``data.dev``."""
        ...


@runtime_checkable
class Meter(Protocol):
    """An energy meter (kind ``meter``). ``start()`` opens a window and returns a token;
    ``stop(token)`` closes that window and returns readings (one per thing measured: each GPU,
    each CPU package, ...). Windows may nest (a phase window holds the inference windows), so a
    meter keeps no per-window state of its own outside the token. The core synchronises CUDA
    once before every ``start`` and ``stop`` (:func:`greenprune.metering.metered`); a meter
    need not.

    Each reading says whose joules it holds through ``EnergyReading.scope``: ``"process"`` when
    they are this process's own (its CPU time), ``"node"`` (the default the core fills in) when
    any process on the machine would read the same (a RAPL package, a GPU). In a multi-process
    run the core tags every reading with its host and rank and keeps a node sensor once per host
    and a process sensor once per rank (:mod:`greenprune.energy_ranks`)."""

    #: the component name, as in readings' ``meter`` field
    name: str
    #: False for estimates; ``--meter auto`` picks only measured meters
    measured: bool
    #: names of meters whose sensors this one re-reads (perun reads RAPL and NVML): ``--meter
    #: auto`` never picks both, so no joule is reported twice
    overlaps: tuple[str, ...] = ()

    def available(self) -> tuple[bool, str]:
        """Whether this machine can be measured this way, and why (not)."""
        ...

    def start(self) -> Any:
        """Open a window; return a token that :meth:`stop` takes."""
        ...

    def stop(self, token: Any) -> list[EnergyReading]:
        """Close the window of ``token``; one reading per sensor measured."""
        ...

    def close(self) -> None:
        """Release what the meter holds (threads, sessions) at the end of a run."""
        return None


#: component kind -> the protocol its factory's product must satisfy (extend as kinds gain one)
PROTOCOLS: dict[str, type] = {"compressor": Compressor, "tuner": Tuner, "evaluator": Evaluator, "meter": Meter}


def members(protocol: type) -> list[str]:
    """The public members a protocol declares (methods and annotated attributes)."""
    names = set(getattr(protocol, "__annotations__", {})) | {n for n in vars(protocol) if not n.startswith("_")}
    return sorted(n for n in names if not n.startswith("_"))


def check_component(kind: str, name: str, obj: object) -> None:
    """Raise a one-line user error when ``obj`` (a built component) lacks a protocol member."""
    from greenprune.errors import UserError

    protocol = PROTOCOLS.get(kind)
    if protocol is None:
        return
    missing = [m for m in members(protocol) if not hasattr(obj, m)]
    if missing:
        raise UserError(f"{kind} {name!r} ({type(obj).__name__}) lacks {', '.join(missing)}; subclass "
                        f"greenprune.api.{protocol.__name__} to inherit the optional members' defaults")
