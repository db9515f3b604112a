"""KPIs: rollups of the events stream (rollup.py), the KPI catalog and its queries (catalog.py, query.py) and the
events stream's retention (retention.py). See docs/analytics.md."""
