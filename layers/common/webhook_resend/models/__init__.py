"""Pydantic models several folders share: base models and ids, records, messages, bodies, envelopes.

Imports the root only (`errors`, `clock`, `urlpolicy`); everything above imports them.
"""
