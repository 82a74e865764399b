"""Administration rules of the core: the admin PIN (hashing, verification, back-off, audit)."""
