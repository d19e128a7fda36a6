"""fnnet's version, in a module of its own so that any part of the package can read it without
importing the package."""

__version__ = "0.2.0"
