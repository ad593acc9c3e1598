"""flowpbx: a self-hosted cloud PBX with visual call flows."""

__version__ = "0.1.0"
