"""Selecting pairs and starting jobs: filters, the Prepr, DataForSEO and native resends, schedules.

Imports `aws`, `models` and the root only, and `delivery.events` to announce a job's end
(`announce_job_end`: rejected, cancelled) where it happens, and `delivery.parking` to put a
resumed or cancelled job's held pairs back on the delivery queue (`control`).
"""
