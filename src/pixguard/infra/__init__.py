"""The edges: Spark sessions and the JVM code, Kafka topics and producers, Delta tables, Great Expectations."""
