"""ait_llm: find where LLM inference goes wrong (Python side of ait-llm)."""
