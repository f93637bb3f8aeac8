"""The streaming job: sources, pure transformations, sinks and the queries that wire them."""
