"""The consumer's domain: the deliverer, the HTTP sender, signing, backoff, callback bodies.

Imports `aws`, `models` and the root only.
"""
