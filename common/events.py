"""In-process events: how a lower layer causes an effect in a higher one without importing it.

The lower layer defines a small frozen dataclass in its `events.py` and publishes it; the higher layer subscribes a
handler in its `AppConfig.ready()` (kept in its `subscribers.py`). `publish` calls the handlers at once, in the
publisher's thread and transaction, in the order they subscribed, and returns what they returned: the effect commits
or rolls back with the cause, and an exception in a handler reaches the publisher. A handler whose effect must follow
the commit (a message to the outside world) wraps it in `transaction.on_commit` itself.

Effects that must survive a crash or run in a worker are not events but outbox rows (`rebates.outbox`).
"""

from collections import defaultdict
from collections.abc import Callable
from typing import Any

_handlers: dict[type, list[Callable[[Any], Any]]] = defaultdict(list)


def subscribe(event_type: type, handler: Callable[[Any], Any]) -> None:
    """Call `handler(event)` for every published `event_type`. Subscribing the same handler twice is one subscription
    (a second `ready()`, as in some test runners, must not double an effect)."""
    if handler not in _handlers[event_type]:
        _handlers[event_type].append(handler)


def publish(event: object) -> list[Any]:
    """Run every handler of the event's type now; their results, in subscription order."""
    return [handler(event) for handler in _handlers[type(event)]]
