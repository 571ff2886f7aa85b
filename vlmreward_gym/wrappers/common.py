"""What the single-env and the vector learned-reward wrappers share: building and checking the form and
the model, the engine, late rewards (``pop_relabels()`` / ``flush()``), ``close()``, and the named
wrappers (``DenseReward``, ...) made from the form registry."""

from __future__ import annotations

import difflib
import functools
import warnings
from typing import Any, Callable, ClassVar, Sequence

from gymnasium.utils import RecordConstructorArgs

from vlmreward_gym.models.base import RewardModel
from vlmreward_gym.models.registry import check_capabilities, make_reward_model, model_options
from vlmreward_gym.types import RewardInputError
from vlmreward_gym.wrappers.engine import RewardEngine, Step, describe_failures
from vlmreward_gym.wrappers.forms import FORMS, RewardForm, get_form
from vlmreward_gym.wrappers.scoring import Relabel, RewardDeliveryError

ScoringOptions = dict[str, Any]

#: the wrapper's own keyword options besides ``model`` and ``instruction`` (the rest go to the form)
WRAPPER_OPTIONS = ("model_kwargs", "frame_key", "scoring", "scoring_options")

#: the form of a generic wrapper built without ``form=``, as :func:`vlmreward_gym.wrap`'s default
DEFAULT_FORM = "dense"


def check_form_options(form_class: type[RewardForm], model: str | RewardModel, form_kwargs: dict[str, Any]) -> None:
    """Refuse keyword arguments that are no option of the form, saying where they belong.

    Raises:
        TypeError: model options passed flat (pointing to ``model_kwargs``), or an unknown option (with
            the closest valid name and the list of options).
    """
    options = form_class.options()
    unknown = {key: value for key, value in form_kwargs.items() if key not in options}
    if not unknown:
        return
    name = form_class.name
    of_model = {k: v for k, v in unknown.items() if isinstance(model, str) and k in model_options(model)}
    if of_model:
        raise TypeError(f"{', '.join(of_model)} {'is an option' if len(of_model) == 1 else 'are options'} of reward "
                        f"model {model!r}, not of the {name} reward form: pass model_kwargs={of_model!r}")
    key = next(iter(unknown))
    close = difflib.get_close_matches(key, options + list(WRAPPER_OPTIONS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    raise TypeError(f"unknown option {key!r} for the {name} reward form{hint} Its options: {', '.join(options)}; "
                    f"the wrapper's: {', '.join(WRAPPER_OPTIONS)}; a model's go in model_kwargs={{...}}")


def build_model_and_form(form: str, model: str | RewardModel, model_kwargs: dict | None,
                         form_kwargs: dict[str, Any]) -> tuple[RewardModel, bool, RewardForm]:
    """The backend, whether it was built here from a name (then the wrapper closes it), and the form
    registered as ``form``. The form is checked and built first, and the backend's card is checked against
    what the form needs: their errors cost no model load."""
    form_class = get_form(form)
    check_form_options(form_class, model, form_kwargs)
    built = form_class(**form_kwargs)
    check_capabilities(model, built.want, purpose=f"the {built.name} reward form")
    return make_reward_model(model, **(model_kwargs or {})), not isinstance(model, RewardModel), built


def check_instruction(instruction: str | None, form: RewardForm) -> str:
    """The instruction to score against; forms with a default (stage-gated: its stages) may omit it."""
    if instruction is None and form.default_instruction() is not None:
        return form.default_instruction()
    if not isinstance(instruction, str) or not instruction.strip():
        raise RewardInputError(f"the {form.name} reward form needs a non-empty instruction, got {instruction!r}")
    return instruction


def per_env_instructions(instruction: str | Sequence[str], num_envs: int) -> list[str]:
    """One instruction per sub-env from a single string or a sequence of ``num_envs``."""
    if isinstance(instruction, str):
        return [instruction] * num_envs
    instructions = list(instruction)
    if len(instructions) != num_envs:
        raise ValueError(f"got {len(instructions)} instructions for {num_envs} sub-envs")
    return instructions


def check_frame_source(model: RewardModel, frame_key: str | None, render_mode: str | None) -> None:
    """A model that reads frames needs ``render_mode='rgb_array'`` or an observation key."""
    if model.info.needs_frames and frame_key is None and render_mode != "rgb_array":
        raise ValueError(
            f"reward model {model.info.name!r} reads frames: make the env with render_mode='rgb_array' "
            f"(it has {render_mode!r}) or pass frame_key=<observation key holding an RGB image>")


def step_info(s: Step | None, episode: int = 0, step: int = 0) -> dict[str, Any]:
    """``info["reward_model"]`` of a step: the form's answer and ``step`` (actions taken in the episode), or,
    for a step not paid yet (``s`` None), a pending marker with the ids its :class:`Relabel` will carry.

    Only a pending step carries ``episode`` (the wrapper's count of the env's episodes, which keeps a relabel
    identifiable across seeded resets): every other entry is the same whenever the same seed and actions are
    replayed, as Gymnasium's ``check_env`` requires."""
    if s is None:
        return {"pending": True, "episode": episode, "step": step}
    return {**s.paid.info, "pending": False, "step": s.step}


def class_name(form: str) -> str:
    """The named wrapper of a form: ``stage_gated`` -> ``StageGatedReward``."""
    return "".join(part.capitalize() for part in form.split("_")) + "Reward"


class LearnedRewardBase:
    """The part of a learned-reward wrapper (single or vector) that is neither Gymnasium's nor the env's.

    Builds the form and the model (:meth:`_set_up`), turns the engine's paid steps into this step's
    rewards and keeps those that arrive later as :class:`Relabel` records for :meth:`pop_relabels` /
    :meth:`flush`, and closes scorer, model and env. ``form_name`` is None for the generic wrapper, which
    takes ``form=``, and the form of a named one (:meth:`named`).
    """

    #: the form of a named wrapper (``DenseReward``: ``dense``); None for the generic one, which takes ``form=``
    form_name: ClassVar[str | None] = None
    model: RewardModel
    owns_model: bool  # built from a name by the wrapper, so closed with it
    form: RewardForm
    engine: RewardEngine
    _closed = False

    @classmethod
    def named(cls, form: str) -> type:
        """This generic wrapper fixed to the registered ``form``: ``LearnedRewardWrapper.named("dense")`` is
        ``DenseReward`` (made once), which takes the same arguments but ``form=``."""
        if cls.form_name is not None:
            raise TypeError(f"{cls.__name__} is already the {cls.form_name} form's wrapper")
        return _named(cls, get_form(form).name)

    @classmethod
    def module_getattr(cls, module: str) -> Callable[[str], type]:
        """A ``__getattr__`` for ``module`` that gives the named wrapper of every registered form, also of one
        without an alias line there (``FooReward``), so Gymnasium's spec entry points always resolve."""
        def named_wrapper(name: str) -> type:
            for form in FORMS:
                if class_name(form) == name:
                    return cls.named(form)
            raise AttributeError(f"module {module!r} has no attribute {name!r}")

        return named_wrapper

    def _record_args(self, form: str | None, **kwargs: Any) -> None:
        """Record the constructor's arguments (Gymnasium's ``RecordConstructorArgs``) as this class takes them:
        ``form`` only for the generic wrapper."""
        RecordConstructorArgs.__init__(self, **({} if self.form_name else {"form": form}), **kwargs)

    def _set_up(self, form: str | None, model: str | RewardModel, model_kwargs: dict[str, Any] | None,
                form_kwargs: dict[str, Any]) -> None:
        """Build the form (checked first: its errors cost no model load) and the model."""
        if self.form_name is not None and form is not None and form.replace("-", "_") != self.form_name:
            raise TypeError(f"{type(self).__name__} pays the {self.form_name} form, not {form!r}: use "
                            f"vlmreward_gym.wrap(env, form={form!r}, ...) or the generic wrapper")
        self.model, self.owns_model, self.form = build_model_and_form(self.form_name or form or DEFAULT_FORM, model,
                                                                      model_kwargs, form_kwargs)

    def _start_engine(self, instructions: list[str], scoring: str, scoring_options: ScoringOptions | None) -> None:
        self.engine = RewardEngine(self.model, self.form, instructions, scoring, **(scoring_options or {}))
        self._late: list[Relabel] = []

    def _settle(self) -> dict[tuple[int, bool], Step]:
        """Dispatch what was observed and return what is paid of it, keyed ``(env, is_reset)``.

        Raises:
            RewardDeliveryError: an earlier late answer failed; this step's reward, if in, becomes a relabel.
        """
        current = set(self.engine.dispatch())
        paid, failed = self.engine.collect(block=self.engine.scoring == "sync")
        inline = {}
        for s in paid:
            if s in current and not failed:
                inline[(s.env, s.is_reset)] = s
            else:
                self._keep(s)
        self._raise(failed)
        return inline

    def _keep(self, s: Step) -> None:
        if not s.is_reset:
            self._late.append(Relabel(s.env, s.episode, s.step, s.paid.reward, step_info(s)))

    def _raise(self, failed: list[Step]) -> None:
        if failed:
            cause = next((s.error for s in failed if s.error is not None), None)
            raise RewardDeliveryError(f"{describe_failures(failed)}. The {len(self._late)} rewards that did "
                                      f"arrive are kept: pop_relabels() returns them") from cause

    def _take(self, block: bool) -> list[Relabel]:
        """Every arrived relabel not taken yet (waiting for all pending answers if ``block``).

        Raises:
            RewardDeliveryError: naming every step left without a reward; the arrived ones stay for the next call.
        """
        self._raise(self._gather(block))
        late, self._late = self._late, []
        return late

    def _gather(self, block: bool) -> list[Step]:
        """Keep every paid step as a relabel; return the failed ones."""
        paid, failed = self.engine.collect(block=block)
        for s in paid:
            self._keep(s)
        return failed

    def pop_relabels(self) -> list[Relabel]:
        """Real rewards of earlier pending (NaN) steps that have arrived since the last call."""
        return self._take(block=False)

    def flush(self) -> list[Relabel]:
        """Wait for every pending answer and return the relabels not yet taken (empty with ``sync``)."""
        return self._take(block=True)

    def close(self) -> None:
        """Stop the scorer (warning about rewards never taken, see :meth:`flush`), close the model if the wrapper
        built it from a name (a model passed in is the caller's to close) and close the env; idempotent."""
        if not self._closed:
            self._closed = True
            self._warn_undelivered()
            if self.owns_model:
                self.model.close()
        super().close()

    def _warn_undelivered(self) -> None:
        """Stop the scorer and warn about every reward that was never taken (nothing is dropped silently)."""
        self.engine.close()
        failed = self._gather(block=False)
        unanswered = self.engine.unanswered()
        if not (self._late or unanswered or failed):
            return
        problems = []
        if self._late:
            problems.append(f"{len(self._late)} arrived but were not taken (pop_relabels())")
        if unanswered:
            problems.append(f"{unanswered} were never answered")
        if failed:
            problems.append(describe_failures(failed))
        lost = len(self._late) + unanswered + sum(not s.is_reset for s in failed)  # a reset has no reward
        warnings.warn(f"closing with {lost} rewards not delivered: {'; '.join(problems)}. Call flush() and apply "
                      f"its relabels before close()", RuntimeWarning, stacklevel=3)


@functools.cache
def _named(generic: type[LearnedRewardBase], form: str) -> type:
    """The named wrapper of ``form`` (a registered name) for the generic wrapper ``generic``, made once, so
    ``vrg.wrap`` and ``from vlmreward_gym.wrappers import DenseReward`` give the same class. It lives in
    ``generic``'s module (Gymnasium's spec names it there) and carries the form's docstring."""
    form_class = FORMS[form]
    name = class_name(form)
    kind = generic.__doc__.strip().split(":")[0]  # "Single-env learned reward", "Vector learned reward"
    doc = (f"{kind} in the ``{form}`` form: ``{generic.__name__}(env, ..., form={form!r})``.\n\n"
           f"    :class:`~{form_class.__module__}.{form_class.__name__}`: {form_class.__doc__}")
    return type(generic)(name, (generic,), {"form_name": form, "__doc__": doc, "__module__": generic.__module__,
                                            "__qualname__": name})
