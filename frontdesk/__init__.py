"""frontdesk: a self-hosted AI customer agent for online stores."""

__version__ = "0.1.0"
