# ruff: noqa: E501
"""Segments and import/export jobs end to end: boto3's pinpoint client → API → the real segment store and job
runner in Redis. Jobs run in the server's background; the tests wait for them with the runner's own `drain()`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from gateway.segments.jobs import Jobs
from tests.api.conftest import ApiServer, error_of

IOS = {"Demographic": {"Platform": {"DimensionType": "INCLUSIVE", "Values": ["ios"]}}}
GOLD = {"Attributes": {"tier": {"AttributeType": "INCLUSIVE", "Values": ["gold"]}}}
ROLE = "arn:aws:iam::123456789012:role/import"


@pytest.fixture
def jobs_tmp(live_jobs_dir: Path) -> Path:
    """A fresh directory inside the one the live API's jobs may use."""
    d = live_jobs_dir / uuid.uuid4().hex
    d.mkdir()
    return d


def drain(server: ApiServer) -> None:
    jobs = server.services.jobs
    assert isinstance(jobs, Jobs)
    server.call(jobs.drain())


def test_segment_lifecycle_with_versions(live_pp: Any, live_app: str) -> None:
    pp, app = live_pp, live_app
    created = pp.create_segment(ApplicationId=app, WriteSegmentRequest={"Name": "ios", "Dimensions": IOS, "tags": {"team": "a"}})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    seg = created["SegmentResponse"]
    sid = seg["Id"]
    assert seg["ApplicationId"] == app and seg["Version"] == 1 and seg["SegmentType"] == "DIMENSIONAL"
    assert seg["Arn"] == f"arn:aws:mobiletargeting:eu-west-1:123456789012:apps/{app}/segments/{sid}"
    assert seg["Dimensions"]["Demographic"]["Platform"]["Values"] == ["ios"]
    assert pp.get_segment(ApplicationId=app, SegmentId=sid)["SegmentResponse"] == seg
    updated = pp.update_segment(ApplicationId=app, SegmentId=sid, WriteSegmentRequest={"Name": "gold", "Dimensions": GOLD})["SegmentResponse"]
    assert (updated["Version"], updated["Name"], updated["tags"]) == (2, "gold", {"team": "a"})
    assert updated["CreationDate"] == seg["CreationDate"] and "Demographic" not in updated["Dimensions"]
    assert pp.get_segment(ApplicationId=app, SegmentId=sid)["SegmentResponse"]["Version"] == 2
    v1 = pp.get_segment_version(ApplicationId=app, SegmentId=sid, Version="1")["SegmentResponse"]
    assert v1 == seg
    pp.update_segment(ApplicationId=app, SegmentId=sid, WriteSegmentRequest={"Name": "three"})
    page = pp.get_segment_versions(ApplicationId=app, SegmentId=sid, PageSize="2")["SegmentsResponse"]
    assert [s["Version"] for s in page["Item"]] == [3, 2] and page["NextToken"]
    rest = pp.get_segment_versions(ApplicationId=app, SegmentId=sid, PageSize="2", Token=page["NextToken"])["SegmentsResponse"]
    assert [s["Version"] for s in rest["Item"]] == [1] and "NextToken" not in rest
    code, status, message = error_of(lambda: pp.get_segment_version(ApplicationId=app, SegmentId=sid, Version="9"))
    assert (code, status) == ("NotFoundException", 404) and "version 9" in message
    assert error_of(lambda: pp.get_segment_version(ApplicationId=app, SegmentId=sid, Version="x"))[0] == "BadRequestException"
    # tags: CreateSegment's, TagResource's and GetSegment's are the same set; DeleteSegment removes them
    pp.tag_resource(ResourceArn=seg["Arn"], TagsModel={"tags": {"env": "prod"}})
    assert pp.list_tags_for_resource(ResourceArn=seg["Arn"])["TagsModel"]["tags"] == {"team": "a", "env": "prod"}
    assert pp.get_segment(ApplicationId=app, SegmentId=sid)["SegmentResponse"]["tags"] == {"team": "a", "env": "prod"}
    pp.untag_resource(ResourceArn=seg["Arn"], TagKeys=["team"])
    assert pp.get_segments(ApplicationId=app)["SegmentsResponse"]["Item"][0]["tags"] == {"env": "prod"}
    code, _, message = error_of(lambda: pp.update_segment(ApplicationId=app, SegmentId=sid, WriteSegmentRequest={
        "tags": {f"k{i}": "v" for i in range(50)}}))
    assert code == "BadRequestException" and "at most 50 tags" in message
    deleted = pp.delete_segment(ApplicationId=app, SegmentId=sid)["SegmentResponse"]
    assert deleted["Version"] == 3 and deleted["tags"] == {"env": "prod"}
    assert pp.list_tags_for_resource(ResourceArn=seg["Arn"])["TagsModel"]["tags"] == {}
    for call in (lambda: pp.get_segment(ApplicationId=app, SegmentId=sid),
                 lambda: pp.get_segment_versions(ApplicationId=app, SegmentId=sid),
                 lambda: pp.delete_segment(ApplicationId=app, SegmentId=sid),
                 lambda: pp.update_segment(ApplicationId=app, SegmentId=sid, WriteSegmentRequest={"Name": "n"})):
        assert error_of(call)[:2] == ("NotFoundException", 404)


def test_get_segments_pages(live_pp: Any, live_app: str) -> None:
    pp, app = live_pp, live_app
    ids = [pp.create_segment(ApplicationId=app, WriteSegmentRequest={"Name": f"s{i}", "Dimensions": IOS})["SegmentResponse"]["Id"]
           for i in range(5)]
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs = {"Token": token} if token else {}
        resp = pp.get_segments(ApplicationId=app, PageSize="2", **kwargs)["SegmentsResponse"]
        seen += [s["Id"] for s in resp["Item"]]
        pages += 1
        token = resp.get("NextToken")
        if not token:
            break
    assert seen == ids and pages == 3
    assert [s["Name"] for s in pp.get_segments(ApplicationId=app)["SegmentsResponse"]["Item"]] == [f"s{i}" for i in range(5)]


def test_segment_definition_errors(live_pp: Any, live_app: str) -> None:
    pp, app = live_pp, live_app
    code, status, message = error_of(lambda: pp.create_segment(ApplicationId=app, WriteSegmentRequest={
        "Name": "both", "Dimensions": IOS, "SegmentGroups": {"Groups": [{"Dimensions": [GOLD]}]}}))
    assert (code, status) == ("BadRequestException", 400) and "not both" in message
    code, _, message = error_of(lambda: pp.create_segment(ApplicationId=app, WriteSegmentRequest={
        "Name": "src", "SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": "nope"}]}]}}))
    assert code == "BadRequestException" and "'nope'" in message and "does not exist" in message
    code, _, message = error_of(lambda: pp.get_segments(ApplicationId=app, Token="not-a-token"))
    assert code == "BadRequestException" and "Token" in message
    assert pp.get_segments(ApplicationId=app)["SegmentsResponse"]["Item"] == []


CSV = """ChannelType,Address,Id,Attributes.tier,Attributes.tier,User.UserId
EMAIL,a@example.com,e1,gold,vip,u1
SMS,+1 415 555 0102,e2,silver,,u2
EMAIL,b@example.com,e3,gold,,
EMAIL,c@example.com,e4,x,y,z,extra
"""


def test_import_and_export_jobs(live_api: ApiServer, live_pp: Any, live_app: str, jobs_tmp: Path) -> None:
    tmp_path = jobs_tmp
    pp, app = live_pp, live_app
    src = tmp_path / "endpoints.csv"
    src.write_text(CSV)
    created = pp.create_import_job(ApplicationId=app, ImportJobRequest={
        "Format": "CSV", "S3Url": str(src), "RoleArn": ROLE, "DefineSegment": True, "SegmentName": "imported",
        "RegisterEndpoints": True})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    job = created["ImportJobResponse"]
    assert (job["JobStatus"], job["Type"], job["ApplicationId"]) == ("CREATED", "IMPORT", app)
    assert job["Definition"]["S3Url"] == str(src) and job["Definition"]["RoleArn"] == ROLE
    drain(live_api)
    done = pp.get_import_job(ApplicationId=app, JobId=job["Id"])["ImportJobResponse"]
    assert done["JobStatus"] == "COMPLETED", done
    assert (done["TotalProcessed"], done["TotalFailures"], done["TotalPieces"], done["CompletedPieces"]) == (4, 1, 1, 1)
    assert done["Failures"] and done["Failures"][0].startswith("endpoints.csv line 5:")
    seg_id = done["Definition"]["SegmentId"]
    seg = pp.get_segment(ApplicationId=app, SegmentId=seg_id)["SegmentResponse"]
    assert (seg["SegmentType"], seg["Name"], seg["Version"]) == ("IMPORT", "imported", 1)
    assert seg["ImportDefinition"]["Size"] == 3 and seg["ImportDefinition"]["ChannelCounts"] == {"EMAIL": 2, "SMS": 1}
    e2 = pp.get_endpoint(ApplicationId=app, EndpointId="e2")["EndpointResponse"]
    assert e2["Address"] == "+14155550102" and e2["User"]["UserId"] == "u2"
    assert pp.get_endpoint(ApplicationId=app, EndpointId="e1")["EndpointResponse"]["Attributes"] == {"tier": ["gold", "vip"]}

    # a file:// URL, as a new version of the imported segment
    more = tmp_path / "more.json"
    more.write_text(json.dumps({"Id": "e5", "ChannelType": "EMAIL", "Address": "d@example.com"}) + "\n")
    again = pp.create_import_job(ApplicationId=app, ImportJobRequest={
        "Format": "JSON", "S3Url": more.as_uri(), "RoleArn": ROLE, "DefineSegment": True, "SegmentId": seg_id})["ImportJobResponse"]
    other = pp.create_import_job(ApplicationId=app, ImportJobRequest={
        "Format": "JSON", "S3Url": more.as_uri(), "RoleArn": ROLE})["ImportJobResponse"]
    drain(live_api)
    assert pp.get_import_job(ApplicationId=app, JobId=again["Id"])["ImportJobResponse"]["JobStatus"] == "COMPLETED"
    assert pp.get_segment(ApplicationId=app, SegmentId=seg_id)["SegmentResponse"]["Version"] == 2
    listed = pp.get_import_jobs(ApplicationId=app)["ImportJobsResponse"]["Item"]
    assert [j["Id"] for j in listed] == [other["Id"], again["Id"], job["Id"]]  # newest first
    page = pp.get_import_jobs(ApplicationId=app, PageSize="2")["ImportJobsResponse"]
    assert len(page["Item"]) == 2 and page["NextToken"]
    last = pp.get_import_jobs(ApplicationId=app, PageSize="2", Token=page["NextToken"])["ImportJobsResponse"]
    assert [j["Id"] for j in last["Item"]] == [job["Id"]] and "NextToken" not in last
    by_seg = pp.get_segment_import_jobs(ApplicationId=app, SegmentId=seg_id)["ImportJobsResponse"]["Item"]
    assert [j["Id"] for j in by_seg] == [again["Id"], job["Id"]]

    # export a dimensional segment and everything, as newline-delimited EndpointResponse JSON
    gold = pp.create_segment(ApplicationId=app, WriteSegmentRequest={"Name": "gold", "Dimensions": GOLD})["SegmentResponse"]["Id"]
    out = tmp_path / "out"
    exp = pp.create_export_job(ApplicationId=app, ExportJobRequest={
        "RoleArn": ROLE, "S3UrlPrefix": out.as_uri(), "SegmentId": gold})
    assert exp["ResponseMetadata"]["HTTPStatusCode"] == 202
    exp_all = pp.create_export_job(ApplicationId=app, ExportJobRequest={"RoleArn": ROLE, "S3UrlPrefix": str(out)})["ExportJobResponse"]
    drain(live_api)
    got = pp.get_export_job(ApplicationId=app, JobId=exp["ExportJobResponse"]["Id"])["ExportJobResponse"]
    assert (got["JobStatus"], got["TotalProcessed"], got["CompletedPieces"]) == ("COMPLETED", 2, 1)
    lines = (out / got["Id"] / "part-00000.json").read_text().splitlines()
    assert sorted(json.loads(x)["Id"] for x in lines) == ["e1", "e3"]
    everything = pp.get_export_job(ApplicationId=app, JobId=exp_all["Id"])["ExportJobResponse"]
    assert (everything["JobStatus"], everything["TotalProcessed"]) == ("COMPLETED", 4)  # e1 e2 e3 e5
    assert [j["Id"] for j in pp.get_export_jobs(ApplicationId=app)["ExportJobsResponse"]["Item"]] == [exp_all["Id"], got["Id"]]
    assert [j["Id"] for j in pp.get_segment_export_jobs(ApplicationId=app, SegmentId=gold)["ExportJobsResponse"]["Item"]] == [got["Id"]]
    assert pp.get_segment_export_jobs(ApplicationId=app, SegmentId=seg_id)["ExportJobsResponse"]["Item"] == []


def test_job_errors(live_api: ApiServer, live_pp: Any, live_app: str, jobs_tmp: Path) -> None:
    tmp_path = jobs_tmp
    pp, app = live_pp, live_app
    assert error_of(lambda: pp.get_import_job(ApplicationId=app, JobId="nope"))[:2] == ("NotFoundException", 404)
    assert error_of(lambda: pp.get_export_job(ApplicationId=app, JobId="nope"))[:2] == ("NotFoundException", 404)
    code, _, message = error_of(lambda: pp.create_import_job(ApplicationId=app, ImportJobRequest={
        "Format": "CSV", "S3Url": str(tmp_path), "RoleArn": ROLE, "SegmentId": "missing"}))
    assert code == "NotFoundException" and "'missing'" in message
    code, _, message = error_of(lambda: pp.create_export_job(ApplicationId=app, ExportJobRequest={
        "RoleArn": ROLE, "S3UrlPrefix": "s3://bucket/prefix"}))
    assert code == "BadRequestException" and "S3UrlPrefix" in message
    code, _, _ = error_of(lambda: pp.create_export_job(ApplicationId=app, ExportJobRequest={
        "RoleArn": ROLE, "S3UrlPrefix": str(tmp_path), "SegmentId": "missing"}))
    assert code == "NotFoundException"
    # local paths outside jobs.import_dirs / export_dirs: BadRequestException, nothing read or created
    for url in ("/etc/passwd", "file:///proc/self/environ", f"{tmp_path}/../../etc/passwd"):
        code, status, message = error_of(lambda u=url: pp.create_import_job(ApplicationId=app, ImportJobRequest={
            "Format": "CSV", "S3Url": u, "RoleArn": ROLE}))
        assert (code, status) == ("BadRequestException", 400)
        assert message.startswith("S3Url: ") and "outside the directories listed in jobs.import_dirs" in message
        assert "root:" not in message
    outside = tmp_path.parent.parent / f"{tmp_path.name}-outside"
    code, _, message = error_of(lambda: pp.create_export_job(ApplicationId=app, ExportJobRequest={
        "RoleArn": ROLE, "S3UrlPrefix": str(outside)}))
    assert code == "BadRequestException" and "jobs.export_dirs" in message and not outside.exists()
    assert pp.get_import_jobs(ApplicationId=app)["ImportJobsResponse"]["Item"] == []
    # a source that cannot be read fails the job with the reason; an import job is not an export job
    job = pp.create_import_job(ApplicationId=app, ImportJobRequest={
        "Format": "CSV", "S3Url": "s3://bucket/key.csv", "RoleArn": ROLE})["ImportJobResponse"]
    drain(live_api)
    failed = pp.get_import_job(ApplicationId=app, JobId=job["Id"])["ImportJobResponse"]
    assert failed["JobStatus"] == "FAILED" and "s3://" in failed["Failures"][0]
    assert error_of(lambda: pp.get_export_job(ApplicationId=app, JobId=job["Id"]))[0] == "NotFoundException"
