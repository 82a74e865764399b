"""Verification accuracy: keeping stored templates in step with the embedder's crop preprocessing."""
