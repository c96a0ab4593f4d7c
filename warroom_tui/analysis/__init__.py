"""Flag profiles, similarity, agreement and the study's statistics (numpy/scipy, no Textual)."""
