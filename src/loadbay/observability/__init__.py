"""What an autoscaler and an on-call person need: Prometheus metrics, structured logs
tagged with job ids, and readiness checks. Nothing here is created at import time: the
composition root builds a :class:`Metrics` and a :class:`Readiness` and passes them in.
"""

from loadbay.observability.collectors import JobCount, job_counts
from loadbay.observability.logs import configure_logging, current_job, job_context
from loadbay.observability.metrics import Metrics
from loadbay.observability.queues import celery_queue_depth, check_broker
from loadbay.observability.readiness import Readiness, ReadinessReport, service_readiness

__all__ = [
    "JobCount",
    "Metrics",
    "Readiness",
    "ReadinessReport",
    "celery_queue_depth",
    "check_broker",
    "configure_logging",
    "current_job",
    "job_context",
    "job_counts",
    "service_readiness",
]
