"""Matplotlib figures for the retrospective and the trends (timeline swimlanes, distributions)."""
