"""Where jobs run. The payload crossing the boundary is a job id and a step name, nothing more."""

from loadbay.executors.base import Executor, StepHandler, open_executor

__all__ = ["Executor", "StepHandler", "open_executor"]
