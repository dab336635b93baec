"""Files the toolkit can be trusted with: atomic writes, locks, hashing, and which dirs it owns."""
