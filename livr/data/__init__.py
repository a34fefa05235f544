"""Data: the record schema, task definitions, generators, builders and the collator."""
