"""Segments: HTTP handlers over `Services.segments` (a SegmentService)."""

from __future__ import annotations

from gateway import models
from gateway.api.errors import NotFound
from gateway.api.registry import Call, Registry
from gateway.api.services import SegmentService
from gateway.api.validation import page_size

registry = Registry()
operation = registry.operation

_NEEDS = ("segments",)


def _svc(call: Call) -> SegmentService:
    assert call.services.segments is not None
    return call.services.segments


def _missing(call: Call) -> NotFound:
    return NotFound(f"Segment {call.params['SegmentId']} not found")


@operation("CreateSegment", needs=_NEEDS)
async def create_segment(call: Call) -> models.SegmentResponse:
    return await _svc(call).create_segment(call.app_id, call.body)


@operation("GetSegment", needs=_NEEDS)
async def get_segment(call: Call) -> models.SegmentResponse:
    seg = await _svc(call).get_segment(call.app_id, call.params["SegmentId"], None)
    if seg is None:
        raise _missing(call)
    return seg


@operation("GetSegmentVersion", needs=_NEEDS)
async def get_segment_version(call: Call) -> models.SegmentResponse:
    seg = await _svc(call).get_segment(call.app_id, call.params["SegmentId"], call.params["Version"])
    if seg is None:
        raise NotFound(f"Segment {call.params['SegmentId']} version {call.params['Version']} not found")
    return seg


@operation("GetSegments", needs=_NEEDS)
async def get_segments(call: Call) -> models.SegmentsResponse:
    return await _svc(call).list_segments(call.app_id, page_size(call.params), call.params.get("Token"))


@operation("GetSegmentVersions", needs=_NEEDS)
async def get_segment_versions(call: Call) -> models.SegmentsResponse:
    out = await _svc(call).list_segment_versions(
        call.app_id, call.params["SegmentId"], page_size(call.params), call.params.get("Token")
    )
    if out is None:
        raise _missing(call)
    return out


@operation("UpdateSegment", needs=_NEEDS)
async def update_segment(call: Call) -> models.SegmentResponse:
    seg = await _svc(call).update_segment(call.app_id, call.params["SegmentId"], call.body)
    if seg is None:
        raise _missing(call)
    return seg


@operation("DeleteSegment", needs=_NEEDS)
async def delete_segment(call: Call) -> models.SegmentResponse:
    seg = await _svc(call).delete_segment(call.app_id, call.params["SegmentId"])
    if seg is None:
        raise _missing(call)
    return seg
