"""webhook_resend: the shared package of every function (the SAM layer `CommonLayer`).

Folders by role; imports run one way, `api` → `resends` / `delivery` / `catalog` → `aws` →
`models` → the root modules (settings, clock, errors, observability, coldstart, urlpolicy).
"""
