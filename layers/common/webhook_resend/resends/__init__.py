"""Selecting pairs and starting jobs: filters, the Prepr, DataForSEO and native resends, schedules.

Imports `aws`, `models` and the root only.
"""
