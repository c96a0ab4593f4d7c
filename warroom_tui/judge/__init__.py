"""Coding messages: the codebook, the built-in coder, LLM judges, adjudication, the background worker."""
