from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Response

from loadbay.api.deps import CurrentPrincipal, ServicesDep
from loadbay.api.schemas import DatasetList, DatasetOut, ErrorBody
from loadbay.domain.errors import NotFound

router = APIRouter(prefix="/api/v1", tags=["datasets"])


@router.get("/datasets", response_model=DatasetList)
def list_datasets(services: ServicesDep, principal: CurrentPrincipal) -> DatasetList:
    """The datasets this service imports into, with their columns."""
    return DatasetList(items=[DatasetOut.of(d) for d in services.datasets])


@router.get(
    "/datasets/{name}/template",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, 404: {"model": ErrorBody}},
)
def dataset_template(name: str, services: ServicesDep, principal: CurrentPrincipal) -> Response:
    """An empty CSV file with the dataset's labels as its header."""
    dataset = services.datasets.get(name)
    if dataset is None:
        raise NotFound(f"No dataset {name!r}", code="unknown_dataset")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(dataset.labels)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}_template.csv"'},
    )
