"""ganzoo's built-in variants, one file each. Each is an ordinary plugin: it uses exactly
the API a third-party package uses: `ganzoo.api` (see core/registry.py)."""
