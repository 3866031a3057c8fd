"""Sample corpus: a fictional company's documents with known facts (ground truth)."""
