"""Which consumer wants which event types (glob patterns with `*` and `?`, e.g. "payment.*").

Each consuming app registers itself in its AppConfig.ready():

    from enhancements.events.registry import register_consumer
    register_consumer("webhooks", ["payment.*", "refund.*"])

Deliveries are created when the consumer claims (outbox.materialise), for every event
after its cursor whose type matches, so the patterns are also needed as SQL LIKE patterns.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

_CONSUMERS: dict[str, tuple[str, ...]] = {}


def register_consumer(name: str, patterns: list[str] | tuple[str, ...]) -> None:
    if not patterns:
        raise ValueError(f"consumer {name!r}: give at least one event-type pattern")
    for pattern in patterns:
        if "[" in pattern or "]" in pattern:
            raise ValueError(f"consumer {name!r}: pattern {pattern!r}: only '*' and '?' wildcards are supported")
    _CONSUMERS[name] = tuple(patterns)


def unregister_consumer(name: str) -> None:
    _CONSUMERS.pop(name, None)


def registered_consumers() -> dict[str, tuple[str, ...]]:
    return dict(_CONSUMERS)


def consumers_for(event_type: str) -> list[str]:
    return [name for name, patterns in _CONSUMERS.items() if any(fnmatchcase(event_type, p) for p in patterns)]


def like_patterns(name: str) -> list[str]:
    """The consumer's patterns as SQL LIKE patterns (default escape character backslash)."""
    try:
        patterns = _CONSUMERS[name]
    except KeyError:
        raise LookupError(f"no consumer named {name!r} is registered") from None
    return [p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%").replace("?", "_") for p in patterns]
