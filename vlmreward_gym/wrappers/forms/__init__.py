"""The reward forms: each one's pure logic in its own module, and :data:`FORMS`, the registry of them.

A new form is one module here (a :class:`~vlmreward_gym.wrappers.forms.base.RewardForm` subclass
``FooForm``) and one entry in :data:`FORMS`; ``vrg.wrap(env, form="foo")``, the generic wrappers
(``LearnedRewardWrapper(env, form="foo")``, single and vector) and the named wrappers ``FooReward``
(:func:`vlmreward_gym.wrappers.named_wrapper`) take it from there.
"""

from __future__ import annotations

from vlmreward_gym.wrappers.forms.base import RewardForm
from vlmreward_gym.wrappers.forms.contrastive import ContrastiveForm
from vlmreward_gym.wrappers.forms.dense import DenseForm
from vlmreward_gym.wrappers.forms.episodic import EpisodicForm
from vlmreward_gym.wrappers.forms.stage_gated import StageGatedForm

#: every reward form by name (``RewardForm.name``), in the order the docs list them
FORMS: dict[str, type[RewardForm]] = {form.name: form for form in (
    EpisodicForm, DenseForm, ContrastiveForm, StageGatedForm,
)}


def get_form(name: str) -> type[RewardForm]:
    """The form registered as ``name`` (``-`` taken for ``_``).

    Raises:
        ValueError: no such form; the message lists them.
    """
    key = name.replace("-", "_")
    if key not in FORMS:
        raise ValueError(f"unknown reward form {name!r}; choose one of {list(FORMS)}")
    return FORMS[key]


__all__ = ["FORMS", "get_form", "RewardForm", "EpisodicForm", "DenseForm", "ContrastiveForm", "StageGatedForm"]
