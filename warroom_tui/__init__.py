"""warroom-tui: a terminal lab for LLM group chats."""

__version__ = "0.1.0"
