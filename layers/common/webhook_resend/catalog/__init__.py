"""A tenant's content items, tasks and webhooks; tenants and their credentials.

Imports `resends` (the filters and item selection a list shares), `aws`, `models` and the root only.
"""
