"""Storage: the aiosqlite run store, the engine's recorder, import and export."""
