"""`expect_column_values_to_be_valid_cpf_or_cnpj`: the check-digit expectation Great Expectations lacks.

Importing this module registers the expectation and its metric with GE. Its Spark condition is the
SQL the stream's contract compiler uses (pixguard.domain.documents), so both enforcers judge a document the
same way.
"""

from __future__ import annotations

from typing import Any, ClassVar

from great_expectations.execution_engine import SparkDFExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)

from pixguard.domain.documents import valid_document_sql


class ColumnValuesValidCpfOrCnpj(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_cpf_or_cnpj"

    @column_condition_partial(engine=SparkDFExecutionEngine)
    def _spark(cls, column: Any, _accessor_domain_kwargs: dict[str, Any], **kwargs: Any) -> Any:  # noqa: ANN401, N805
        from pyspark.sql import functions as F

        name = _accessor_domain_kwargs["column"].replace("`", "``")
        return F.expr(valid_document_sql(f"`{name}`"))


class ExpectColumnValuesToBeValidCpfOrCnpj(ColumnMapExpectation):
    """Expect each value to be an 11-digit CPF or a 14-character CNPJ with both check digits right."""

    map_metric: ClassVar[str] = "column_values.valid_cpf_or_cnpj"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)
    args_keys: ClassVar[tuple[str, ...]] = ("column",)
