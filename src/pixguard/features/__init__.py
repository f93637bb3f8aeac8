"""Stateful, point-in-time features served to the model and written with every decision."""
