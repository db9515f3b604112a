"""Import and export jobs: HTTP handlers over `Services.jobs` (a JobService)."""

from __future__ import annotations

from gateway import models
from gateway.api.errors import NotFound
from gateway.api.registry import Call, Registry
from gateway.api.services import JobService
from gateway.api.validation import page_size

registry = Registry()
operation = registry.operation

_NEEDS = ("jobs",)


def _svc(call: Call) -> JobService:
    assert call.services.jobs is not None
    return call.services.jobs


@operation("CreateImportJob", needs=_NEEDS)
async def create_import_job(call: Call) -> models.ImportJobResponse:
    return await _svc(call).create_import(call.app_id, call.body)


@operation("GetImportJob", needs=_NEEDS)
async def get_import_job(call: Call) -> models.ImportJobResponse:
    job = await _svc(call).get_import(call.app_id, call.params["JobId"])
    if job is None:
        raise NotFound(f"Import job {call.params['JobId']} not found")
    return job


@operation("GetImportJobs", needs=_NEEDS)
async def get_import_jobs(call: Call) -> models.ImportJobsResponse:
    return await _svc(call).list_imports(call.app_id, page_size(call.params), call.params.get("Token"), None)


@operation("GetSegmentImportJobs", needs=_NEEDS)
async def get_segment_import_jobs(call: Call) -> models.ImportJobsResponse:
    return await _svc(call).list_imports(
        call.app_id, page_size(call.params), call.params.get("Token"), call.params["SegmentId"]
    )


@operation("CreateExportJob", needs=_NEEDS)
async def create_export_job(call: Call) -> models.ExportJobResponse:
    return await _svc(call).create_export(call.app_id, call.body)


@operation("GetExportJob", needs=_NEEDS)
async def get_export_job(call: Call) -> models.ExportJobResponse:
    job = await _svc(call).get_export(call.app_id, call.params["JobId"])
    if job is None:
        raise NotFound(f"Export job {call.params['JobId']} not found")
    return job


@operation("GetExportJobs", needs=_NEEDS)
async def get_export_jobs(call: Call) -> models.ExportJobsResponse:
    return await _svc(call).list_exports(call.app_id, page_size(call.params), call.params.get("Token"), None)


@operation("GetSegmentExportJobs", needs=_NEEDS)
async def get_segment_export_jobs(call: Call) -> models.ExportJobsResponse:
    return await _svc(call).list_exports(
        call.app_id, page_size(call.params), call.params.get("Token"), call.params["SegmentId"]
    )
