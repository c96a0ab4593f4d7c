"""The Textual lab. The only package that imports Textual."""
