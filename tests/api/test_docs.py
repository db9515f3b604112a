"""The README's operations table is generated from the handler registry and must be current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_operations_table_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen_api_table", ROOT / "tools" / "gen_api_table.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = (ROOT / "README.md").read_text()
    assert mod.render_readme(text) == text, "run: python tools/gen_api_table.py --write"
    assert text.count("| CreateApp | POST | `/v1/apps` | served |") == 1


ISSUE_7 = """CreateApp GetApp GetApps DeleteApp GetApplicationSettings UpdateApplicationSettings UpdateEndpoint
UpdateEndpointsBatch GetEndpoint DeleteEndpoint GetUserEndpoints DeleteUserEndpoints RemoveAttributes SendMessages
SendUsersMessages PutEvents PutEventStream GetEventStream DeleteEventStream GetChannels ListTemplates
ListTemplateVersions UpdateTemplateActiveVersion CreateSegment GetSegment GetSegments UpdateSegment DeleteSegment
GetSegmentVersion GetSegmentVersions CreateImportJob GetImportJob GetImportJobs CreateExportJob GetExportJob
GetExportJobs GetSegmentImportJobs GetSegmentExportJobs PhoneNumberValidate SendOTPMessage VerifyOTPMessage
TagResource UntagResource ListTagsForResource""".split()


def test_every_operation_of_issue_7_has_a_handler() -> None:
    from gateway.api.handlers import load_handlers

    handlers = load_handlers()
    channels = [f"{verb}{c}Channel" for verb in ("Get", "Update", "Delete") for c in (
        "Email", "Sms", "Voice", "Apns", "ApnsSandbox", "ApnsVoip", "ApnsVoipSandbox", "Gcm", "Adm", "Baidu")]
    templates = [f"{verb}{t}Template" for verb in ("Create", "Get", "Update", "Delete")
                 for t in ("Email", "Sms", "Voice", "Push", "InApp")]
    wanted = set(ISSUE_7) | set(channels) | set(templates)
    assert len(wanted) == 94
    assert wanted <= set(handlers), sorted(wanted - set(handlers))


def test_the_table_says_what_services_from_config_wires() -> None:
    text = (ROOT / "README.md").read_text()
    for row in ("| CreateSegment | POST | `/v1/apps/{application-id}/segments` | served |",
                "| UpdateEndpoint | PUT | `/v1/apps/{application-id}/endpoints/{endpoint-id}` | served |",
                "| GetSegmentExportJobs | GET | `/v1/apps/{application-id}/segments/{segment-id}/jobs/export` | served |",
                "| PhoneNumberValidate | POST | `/v1/phone/number/validate` | served |",
                "| SendOTPMessage | POST | `/v1/apps/{application-id}/otp` | served when `[otp]` is configured |",
                "| CreateEmailTemplate | POST | `/v1/templates/{template-name}/email` | served |",
                "| UpdateTemplateActiveVersion | PUT | `/v1/templates/{template-name}/{template-type}/active-version` | served |",
                "| GetApnsChannel | GET | `/v1/apps/{application-id}/channels/apns` | served when the `[credentials]` key is configured |"):
        assert row in text, row
