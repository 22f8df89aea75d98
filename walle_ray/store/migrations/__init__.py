"""Alembic scripts of the store; ``walle_ray.store.migrate`` runs them."""
