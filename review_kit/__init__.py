"""review-kit: post-incident review from every source into one timeline, honest metrics and a postmortem."""
__version__ = "0.1.0"
