"""Powertools routers, one per resource, included by the functions' entry modules.

They import `api`'s modules, the domain folders, `aws` (the client factory), `models` and the
root, and never each other.
"""
