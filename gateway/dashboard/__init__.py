"""The dashboard served by the API process at /dashboard: web.py (routes, login, pages), session.py (signed session
tokens), data.py (what its JSON endpoints answer, from the KPI query), static/ (its script and style)."""
