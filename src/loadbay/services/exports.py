"""Accepting an export request: check it against the dataset, record the job with who
it is shared with, audit it and start it. The rows are read later, by a worker."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from loadbay.datasets.registry import DatasetRegistry
from loadbay.db.jobs import JobRepository
from loadbay.domain.audit import AuditAction, Origin
from loadbay.domain.errors import Unprocessable
from loadbay.domain.ids import new_id
from loadbay.domain.jobs import Job, JobKind, JobStatus
from loadbay.domain.principals import Principal
from loadbay.exports.spec import plan_export
from loadbay.services.audit import AuditService


class ExportService:
    def __init__(
        self,
        jobs: JobRepository,
        datasets: DatasetRegistry,
        audit: AuditService,
        start_job: Callable[[Job], None],
        users_of_tenant: Callable[[str], Collection[str]],
    ) -> None:
        self._jobs = jobs
        self._datasets = datasets
        self._audit = audit
        self._start_job = start_job
        self._users_of_tenant = users_of_tenant

    def submit(
        self,
        principal: Principal,
        dataset_name: str,
        filters: Mapping[str, Any] | None,
        format: str,
        columns: Sequence[str] | None,
        share_with: Sequence[str],
        origin: Origin | None = None,
    ) -> Job:
        dataset = self._datasets.get(dataset_name)
        if dataset is None:
            known = ", ".join(d.name for d in self._datasets)
            raise Unprocessable(
                f"Unknown dataset {dataset_name!r}; known datasets: {known}",
                code="unknown_dataset",
            )
        spec = plan_export(dataset, columns, filters, format)
        shared = self._check_shares(principal, share_with)
        job_id = new_id()
        job = Job(
            id=job_id,
            kind=JobKind.EXPORT,
            status=JobStatus.RECEIVED,
            owner=principal.user,
            tenant=principal.tenant,
            dataset=dataset.name,
            file_name=f"{dataset.name}_{job_id}.{spec.extension}",
            file_size=None,
            created_at=datetime.now(UTC),
        )
        self._jobs.add(job, None, params=spec.to_json(), shared_with=shared)
        self._audit.by(
            principal,
            AuditAction.EXPORT_REQUESTED,
            job_id=job.id,
            origin=origin,
            details={**spec.to_json(), "share_with": shared},
        )
        self._start_job(job)
        return self._jobs.get(job.id) or job

    def _check_shares(self, principal: Principal, users: Sequence[str]) -> list[str]:
        """The users to share with: known users of the requester's tenant."""
        known = set(self._users_of_tenant(principal.tenant))
        shared = sorted(set(users) - {principal.user})
        for user in shared:
            if user not in known:
                raise Unprocessable(
                    f"share_with: no user {user!r} in this tenant", code="unknown_user"
                )
        return shared
