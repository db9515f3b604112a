"""Campaigns: Pinpoint's scheduled, segmented, A/B-tested sends (issue 12).

- `store.py`: CreateCampaign, GetCampaign(s), UpdateCampaign, DeleteCampaign, GetCampaignVersion(s) over Redis,
  every version kept; `validate.py` checks every member of WriteCampaignRequest before anything is stored.
- `schedule.py`: pure time logic (Pinpoint's time zones, ISO times, run times, local delivery, quiet time).
- `state.py`: the CampaignStatus Pinpoint reports.
"""
