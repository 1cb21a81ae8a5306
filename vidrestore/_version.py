"""The package version, in a module of its own so that any layer can name it without importing the
package's public API (``vidrestore/__init__.py`` loads ``api`` on first use)."""

__version__ = "0.1.0"
