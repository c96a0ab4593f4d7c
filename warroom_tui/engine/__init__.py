"""The conversation engine: no Textual here, it runs headless and under the lab alike."""
