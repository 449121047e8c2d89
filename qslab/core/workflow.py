"""Declared workflows: states, transitions, who may take them, guards, and what each one requires.

A workflow model declares one :class:`Workflow` as a class attribute; :func:`qslab.core.services.
apply_transition` is the only code that moves an object between states. Declaring everything in one
place lets the UI list the actions a user may take, the API refuse the rest with a reason, and the
tests walk every transition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import get_language


class TransitionRefused(Exception):
    """A transition that may not be taken now; ``code`` says why, the message says it in words."""

    FORBIDDEN = "forbidden"
    WRONG_STATE = "wrong_state"
    GUARD = "guard"
    REASON_REQUIRED = "reason_required"
    ATTACHMENT_REQUIRED = "attachment_required"
    UNKNOWN = "unknown_transition"

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class State:
    value: str
    label_en: str
    label_zh: str
    terminal: bool = False

    @property
    def label(self) -> str:
        return self.label_zh if (get_language() or "en").startswith("zh") else self.label_en


@dataclass(frozen=True)
class DeadlineRule:
    """When a transition lands, someone owes the next step by a date counted in (working) days."""

    days: int
    label_en: str
    label_zh: str
    working_days: bool = True
    assignee: Callable[[Any], Any] | None = None  # object -> user; else ``assignee_role``
    assignee_role: str = ""


@dataclass(frozen=True)
class Transition:
    """One allowed move. ``roles``: any of these roles, scoped to the object, may take it.

    ``guard(obj) -> str | None`` returns a refusal message when the object is not ready.
    ``allowed(user, obj) -> bool`` replaces the role check where a rule is about the person (e.g. the
    applicant themselves). ``notify(obj) -> users`` are told, besides the object's watchers.
    """

    name: str
    source: tuple[str, ...]
    target: str
    roles: tuple[str, ...]
    label_en: str
    label_zh: str
    guard: Callable[[Any], str | None] | None = None
    allowed: Callable[[Any, Any], bool] | None = None
    requires_reason: bool = False
    requires_attachment: bool = False
    notify: Callable[[Any], Iterable[Any]] | None = None
    deadline: DeadlineRule | None = None
    closes_deadlines: bool = True
    on_enter: Callable[[Any, Any, str], None] | None = None  # (obj, user, reason), inside the transaction

    @property
    def label(self) -> str:
        return self.label_zh if (get_language() or "en").startswith("zh") else self.label_en


@dataclass(frozen=True)
class Workflow:
    state_field: str
    states: tuple[State, ...]
    transitions: tuple[Transition, ...]
    initial: str = ""
    _by_name: dict[str, Transition] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        values = {s.value for s in self.states}
        names = set()
        for t in self.transitions:
            if t.name in names:
                raise ValueError(f"transition {t.name!r} is declared twice")
            names.add(t.name)
            unknown = (set(t.source) | {t.target}) - values
            if unknown:
                raise ValueError(f"transition {t.name!r} names unknown states {sorted(unknown)}")
            self._by_name[t.name] = t
        if not self.initial:
            object.__setattr__(self, "initial", self.states[0].value)

    def choices(self) -> list[tuple[str, str]]:
        return [(s.value, s.label_en) for s in self.states]

    def state(self, value: str) -> State:
        for s in self.states:
            if s.value == value:
                return s
        raise KeyError(value)

    def transition(self, name: str) -> Transition:
        try:
            return self._by_name[name]
        except KeyError:
            raise TransitionRefused(f"There is no action “{name}”.", TransitionRefused.UNKNOWN) from None

    def from_state(self, value: str) -> list[Transition]:
        return [t for t in self.transitions if value in t.source]

    def check(self, obj: Any, transition: Transition, user: Any) -> None:
        """Raise :class:`TransitionRefused` unless ``user`` may take ``transition`` on ``obj`` now."""
        from django.utils.translation import gettext as _

        from qslab.accounts.roles import has_role

        current = getattr(obj, self.state_field)
        allowed = (
            transition.allowed(user, obj)
            if transition.allowed is not None
            else any(has_role(user, role, scope=obj) for role in transition.roles)
        )
        if not allowed:
            raise TransitionRefused(
                _("You may not “%(action)s” this record: it needs the role %(roles)s.")
                % {"action": transition.label, "roles": ", ".join(transition.roles)},
                TransitionRefused.FORBIDDEN,
            )
        if current not in transition.source:
            raise TransitionRefused(
                _("“%(action)s” is not possible while the record is “%(state)s”.")
                % {"action": transition.label, "state": self.state(current).label},
                TransitionRefused.WRONG_STATE,
            )
        if transition.guard is not None:
            problem = transition.guard(obj)
            if problem:
                raise TransitionRefused(str(problem), TransitionRefused.GUARD)

    def available(self, obj: Any, user: Any) -> list[Transition]:
        """Transitions ``user`` may take on ``obj`` now (guards included), for buttons and the API."""
        result = []
        for t in self.from_state(getattr(obj, self.state_field)):
            try:
                self.check(obj, t, user)
            except TransitionRefused:
                continue
            result.append(t)
        return result
