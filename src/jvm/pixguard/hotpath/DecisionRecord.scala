package pixguard.hotpath

import org.apache.spark.sql.types._

import pixguard.features.{PayeeHistory, PayerHistory}

/** The columns of a decision, declared once: what the rules and the model inputs see (`ruleSchema`),
  * what a decision record carries on pix.decision-log and pix.alerts and in Delta `decisions`
  * (`schema`), and the few pix.decisions carries. pixguard/domain/schema.py reads them from here. */
final class DecisionRecord(val paymentSchema: StructType) extends Serializable {
  import DecisionRecord._

  val enrichment: StructType = StructType(
    Seq(
      StructField("payee_key_age_days", DoubleType),
      StructField("payee_dict_marked", BooleanType, nullable = false),
      StructField("payer_dict_marked", BooleanType, nullable = false)) ++
      (PayerHistory.FeatureNames ++ PayeeHistory.FeatureNames).map(n => StructField(n, featureType(n))))

  val ruleSchema: StructType = StructType(paymentSchema.fields ++ enrichment.fields)
  val schema: StructType = StructType(ruleSchema.fields ++ Outcome.fields ++ SourceFields.fields)

  /** pix.decisions: the payment's identity and the decision, for consumers that act on it. */
  val eventFields: Seq[Int] =
    (Seq("end_to_end_id", "event_time", "amount_brl", "payer_ispb", "payer_document", "payee_ispb",
      "payee_document", "payee_key") ++ Outcome.fieldNames).map(schema.fieldIndex)
  val allFields: Seq[Int] = schema.indices
}

object DecisionRecord {
  private val Counts = Set(
    "payer_history_tx_count",
    "payer_first_payment_to_payee",
    "payer_new_device",
    "payer_distinct_payees_24h",
    "payee_distinct_payers_1h")

  def featureType(name: String): DataType = if (Counts(name) || name.contains("_count_")) LongType else DoubleType

  val Outcome: StructType = StructType(
    Seq(
      StructField("score", DoubleType),
      StructField("model_reasons", ArrayType(StringType)),
      StructField("rule_hits", ArrayType(StringType)),
      StructField("decision", StringType),
      StructField("reasons", ArrayType(StringType)),
      StructField("model_version", StringType),
      StructField("rules_version", StringType),
      StructField("decided_at", TimestampType),
      StructField("decision_latency_ms", LongType)))

  val SourceFields: StructType = StructType(
    Seq(
      StructField("topic", StringType),
      StructField("partition", IntegerType),
      StructField("offset", LongType),
      StructField("kafka_timestamp", TimestampType),
      StructField("kafka_key", StringType)))

  /** A quarantined record's outcome on pix.dlq and pix.decision-log (and in Delta `quarantine`). */
  val Quarantine: StructType = StructType(
    Seq(
      StructField("reason", StringType),
      StructField("reasons", ArrayType(StringType)),
      StructField("end_to_end_id", StringType),
      StructField("value_base64", StringType)) ++
      SourceFields.fields :+ StructField("quarantined_at", TimestampType))

  /** The hot path's output rows, written as they are by Spark's Kafka sink. */
  val Output: StructType = StructType(
    Seq(StructField("topic", StringType), StructField("key", StringType), StructField("value", StringType)))

  /** The `outcome` field of pix.decision-log: what happened to the source record. */
  val Decided = "decided"
  val Quarantined = "quarantined"
}
