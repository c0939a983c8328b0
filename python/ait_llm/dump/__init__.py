"""Dumping what happens inside a Python inference process (torch module hooks)."""
