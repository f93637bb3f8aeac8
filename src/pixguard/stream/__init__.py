"""The streaming and archive jobs: sources, pure transformations, sinks and the queries that wire them."""
