"""The fraud model as an MLflow pyfunc: what it takes, what it returns, how it is logged."""
