"""`gan eval`: the feature classifier, FCD and the other metrics, and their table."""
