"""Where jobs run. The payload crossing the boundary is a job id, nothing more."""

from loadbay.executors.base import Executor, JobHandler, open_executor

__all__ = ["Executor", "JobHandler", "open_executor"]
