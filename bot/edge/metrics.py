"""Prometheus metrics: the :class:`bot.ports.Meter` the flows report to, and what ``/metrics``
shows of the scheduler, the store's locks and the AWS calls.

::

    lifeguard_events_total{kind, outcome}          events handled (applied, ignored, duplicate...)
    lifeguard_event_to_alert_seconds               from an event's time to the alert it caused
    lifeguard_queue_lag_seconds                    age of the oldest message last received
    lifeguard_previews_total{result}               AWS previews that agreed / differed
    lifeguard_preview_differences_total            images on which they differed
    lifeguard_risks{severity}                      in-use images at risk at the last cycle
    lifeguard_aws_calls_total{operation}           AWS API calls, by service.Operation
    lifeguard_lock_held{lock}                      1 on the replica holding the lock
    lifeguard_cache_drift_total                    images the periodic scan found events missed
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.edge.aws.clients import PROCESS_CALLS

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


class PrometheusMeter:
    """The metrics of one replica.

    Example::

        meter = PrometheusMeter()
        meter.event("image_push", "applied")
        body = generate_latest(meter.registry)
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events = PromCounter(
            "lifeguard_events", "Events handled", ["kind", "outcome"], registry=self.registry
        )
        self.latency = Histogram(
            "lifeguard_event_to_alert_seconds",
            "From an event's time to the alert it caused",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.lag = Gauge(
            "lifeguard_queue_lag_seconds",
            "Age of the oldest message last received",
            registry=self.registry,
        )
        self.previews = PromCounter(
            "lifeguard_previews", "AWS previews compared", ["result"], registry=self.registry
        )
        self.differences = PromCounter(
            "lifeguard_preview_differences",
            "Images on which AWS's preview and the local evaluation differed",
            registry=self.registry,
        )
        self.risks = Gauge(
            "lifeguard_risks", "In-use images at risk", ["severity"], registry=self.registry
        )
        self.registry.register(AwsCallsCollector())
        self.lock_held = Gauge(
            "lifeguard_lock_held", "1 on the replica holding the lock", ["lock"],
            registry=self.registry,
        )  # fmt: skip
        self.drift = PromCounter(
            "lifeguard_cache_drift",
            "Images the periodic scan found that events had missed or that were gone",
            registry=self.registry,
        )

    def event(self, kind: str, outcome: str) -> None:
        """One event handled."""
        self.events.labels(kind, outcome).inc()

    def alert_latency(self, seconds: float) -> None:
        """From an event's time to the alert it caused."""
        self.latency.observe(seconds)

    def queue_lag(self, seconds: float) -> None:
        """Age of the oldest message just received."""
        self.lag.set(seconds)

    def preview(self, agreed: bool, differences: int) -> None:
        """One preview compared."""
        self.previews.labels("agreed" if agreed else "differed").inc()
        self.differences.inc(differences)


class AwsCallsCollector(Collector):
    """``lifeguard_aws_calls_total{operation}``, read from the process-wide count at scrape."""

    def collect(self) -> Iterable[Metric]:
        """The counts now."""
        family = CounterMetricFamily(
            "lifeguard_aws_calls", "AWS API calls, by service.Operation", labels=["operation"]
        )
        for operation, total in sorted(PROCESS_CALLS.items()):
            family.add_metric([operation], total)
        yield family
