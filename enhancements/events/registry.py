"""Which consumer wants which event types (fnmatch patterns, e.g. "payment.*").

Each consuming app registers itself in its AppConfig.ready():

    from enhancements.events.registry import register_consumer
    register_consumer("webhooks", ["payment.*", "refund.*"])

A delivery row is created at publish time for every registered consumer whose patterns
match; a consumer registered later sees events from then on.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

_CONSUMERS: dict[str, tuple[str, ...]] = {}


def register_consumer(name: str, patterns: list[str] | tuple[str, ...]) -> None:
    _CONSUMERS[name] = tuple(patterns)


def unregister_consumer(name: str) -> None:
    _CONSUMERS.pop(name, None)


def registered_consumers() -> dict[str, tuple[str, ...]]:
    return dict(_CONSUMERS)


def consumers_for(event_type: str) -> list[str]:
    return [name for name, patterns in _CONSUMERS.items() if any(fnmatchcase(event_type, p) for p in patterns)]
