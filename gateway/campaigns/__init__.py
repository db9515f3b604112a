"""Campaigns: Pinpoint's scheduled, segmented, A/B-tested sends (issue 12; docs/campaigns.md).

- `store.py`: CreateCampaign, GetCampaign(s), UpdateCampaign, DeleteCampaign, GetCampaignVersion(s) over Redis,
  every version kept; `validate.py` checks every member of WriteCampaignRequest before anything is stored;
  `state.py` the CampaignStatus Pinpoint reports.
- The pure core of a run: `schedule.py` (time zones, run times, local delivery, quiet time), `split.py` (holdout
  and treatments by CohortId), `plan.py` (recipients and run-metric reasons), `messages.py` (MessageRequests),
  `runs.py` (which run is due, send order, run records and activities).
- `runner.py`: the Scheduler every worker runs: leases due runs and enqueues them on the ingest stream.
- `inapp.py` (pure) and `inappstore.py`: in-app campaigns: messages stored per endpoint, GetInAppMessages.
"""
