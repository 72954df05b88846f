"""Retrieval: the store's knowledge as an index a question is matched against — text processing, embedders, the
hybrid index and the calibrated confidence of its candidates. Used by `knowledge` (which keeps the index in step with
the database) and `agent` (which decides with it); it imports neither."""
