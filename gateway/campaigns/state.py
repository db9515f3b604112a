"""The CampaignStatus Pinpoint reports for a campaign (State, DefaultState and each treatment's State)."""

from __future__ import annotations

from gateway.models import CampaignStatus


def campaign_status(*, is_paused: bool, segment_exists: bool, run_status: CampaignStatus | None,
                    ended: bool = False) -> CampaignStatus:
    """DELETED once the campaign's segment is gone ("deleting its segment sets the campaign to DELETED"); COMPLETED
    when its runs are over, or (`ended`) an event-triggered campaign's EndTime has passed: it sends nothing more;
    PAUSED while IsPaused; otherwise what its runs say (EXECUTING, PENDING_NEXT_RUN), SCHEDULED before the first."""
    if not segment_exists:
        return "DELETED"
    if run_status == "COMPLETED" or ended:
        return "COMPLETED"
    if is_paused:
        return "PAUSED"
    return run_status or "SCHEDULED"
