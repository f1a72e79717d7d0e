"""Schema fuzzing (``make fuzz``): schemathesis against the shipped server. See fuzz/run.py."""
