"""Powertools routers, one per resource; the functions' entry modules include them."""
