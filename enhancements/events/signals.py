"""Sent on commit after new deliveries exist, with the consumers concerned.

Consumers connect a receiver that kicks their Celery task, for latency; a beat sweep
picks up anything a lost broker message missed.
"""

from django.dispatch import Signal

deliveries_created = Signal()  # kwargs: consumers: list[str]
