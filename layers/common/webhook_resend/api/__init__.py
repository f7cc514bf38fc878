"""HTTP in: the resolver, errors to answers, parameters, idempotency, the OpenAPI document, routes.

May import every other folder of the package; only the functions' entry modules import it.
"""
