package pixguard.hotpath

import com.fasterxml.jackson.databind.ObjectMapper
import org.apache.spark.sql.{DataFrame, Dataset, Encoder, Encoders, KeyValueGroupedDataset, Row}
import org.apache.spark.sql.functions.{col, collect_list, lit, min, sort_array, struct, unix_millis}
import org.apache.spark.sql.streaming.{OutputMode, TimeMode}
import org.apache.spark.sql.types.{DataType, StructType}

import pixguard.features.{PayeeHistory, PayerHistory}
import org.apache.spark.sql.catalyst.encoders.ExpressionEncoder

import pixguard.serving.{DecisionEngine, RowPipeline}

/** What the hot path needs besides its input: where to read what it decides with, the thresholds, and
  * the topics it writes. Built from the streaming config by pixguard/stream/hot_path.py. */
final case class HotPathSettings(
    servingDir: String,
    servingRefreshMs: Long,
    reviewThreshold: Double,
    blockThreshold: Double,
    topReasons: Int,
    stateTtlMs: Long,
    decisionsTopic: String,
    alertsTopic: String,
    dlqTopic: String,
    decisionLogTopic: String,
    watermarkDelayS: Long,
    fixedDecidedAtMs: Long) // >= 0: every decision is stamped with it (a history backfill), else the clock

object HotPathSettings {
  def fromJson(json: String): HotPathSettings = {
    val n = new ObjectMapper().readTree(json)
    HotPathSettings(
      n.get("serving_dir").asText,
      n.get("serving_refresh_ms").asLong,
      n.get("review_threshold").asDouble,
      n.get("block_threshold").asDouble,
      n.get("top_reasons").asInt,
      n.get("state_ttl_ms").asLong,
      n.get("decisions_topic").asText,
      n.get("alerts_topic").asText,
      n.get("dlq_topic").asText,
      n.get("decision_log_topic").asText,
      n.get("watermark_delay_s").asLong,
      n.get("fixed_decided_at_ms").asLong)
  }
}

/** The hot path's keyed-state operators, Kafka records in, Kafka records out, all in the JVM:
  *
  *   input (one row per Kafka record, see HotPathInput)
  *     -> PayerOperator, by payer document: repeats, payer features; a payment becomes its payload
  *        and its DICT probes
  *     -> DictOperator, by DICT value: the DICT mirror; answers the probes
  *     -> DecisionOperator, by payee document: payee features, rules, model, decision, the records
  *        of pix.decisions, pix.alerts, pix.dlq and pix.decision-log
  *
  * Called from Python through py4j by pixguard/stream/hot_path.py, which owns the plan. No Python
  * runs in it, so the same plan runs in micro-batches and in real-time mode. */
object HotPath {
  /** Prefixes a payment's id where it has no Pix key: a value no DICT entry can have. */
  val NoDictValue = "\u0000"

  def decisionRecord(paymentSchemaJson: String): DecisionRecord =
    new DecisionRecord(DataType.fromJson(paymentSchemaJson).asInstanceOf[StructType])

  def roundHalfUp(value: Double, digits: Int): Double =
    java.math.BigDecimal.valueOf(value).setScale(digits, java.math.RoundingMode.HALF_UP).doubleValue

  /** The decided outcomes, as Kafka records (topic, key, value). Seeds (null: none) are the initial
    * state of a new query: `payerHistory`, `dictEntries` and `payeeHistory` of the payments and DICT
    * entries the archive holds. */
  def build(
      records: DataFrame,
      inputPipeline: Array[Byte],
      settingsJson: String,
      modelInputs: Array[Byte],
      payerSeed: DataFrame,
      dictSeed: DataFrame,
      payeeSeed: DataFrame): DataFrame = {
    ensureStateStoreCoordinator(records)
    val settings = HotPathSettings.fromJson(settingsJson)
    val input = new HotPathInput(DataType.fromJson(RowPipeline.outputSchemaJson(inputPipeline)).asInstanceOf[StructType])
    val record = new DecisionRecord(input.paymentSchema)
    val engine = new DecisionEngine(modelInputs, settings.reviewThreshold, settings.blockThreshold, settings.topReasons)
    val recordSchema = records.schema
    val envelopes = records
      .as[Row](Envelope.rowEncoder(recordSchema))
      .mapPartitions { (rows: Iterator[Row]) =>
        val toInternal = ExpressionEncoder(recordSchema, true).createSerializer()
        val pipeline = RowPipeline.runner(inputPipeline)
        rows.flatMap(row => Option(pipeline(toInternal(row))).map(input.envelope))
      }(Envelope.encoder)
      .withWatermark(Envelope.EventTime, s"${settings.watermarkDelayS} seconds")

    val byPayer = envelopes.groupByKey(Envelope.key _)(Encoders.STRING)
    val payer = new PayerOperator(input.layout, settings.stateTtlMs)
    // In a stream, each operator's output carries the event time on as the next one's watermark
    // column, and histories expire by event-time timers; a batch (the backfill) has no watermark and
    // no timers: it sees every payment once, and ends.
    val streaming = records.isStreaming
    val batchTime = TimeMode.None()
    val afterPayer = withSeed(byPayer, payerSeed, seedEvents) { (g, seed, seedEncoder) =>
      if (streaming) g.transformWithState(payer, Envelope.EventTime, OutputMode.Append(), seed)(Envelope.encoder, seedEncoder)
      else g.transformWithState(payer, batchTime, OutputMode.Append(), seed)(Envelope.encoder, seedEncoder)
    } { g =>
      if (streaming) g.transformWithState(payer, Envelope.EventTime, OutputMode.Append())(Envelope.encoder)
      else g.transformWithState(payer, batchTime, OutputMode.Append())(Envelope.encoder)
    }

    val byValue = afterPayer.groupByKey(Envelope.key _)(Encoders.STRING)
    val dict = new DictOperator
    val afterDict = withSeed(byValue, dictSeed, seedDictFacts) { (g, seed, seedEncoder) =>
      if (streaming) g.transformWithState(dict, Envelope.EventTime, OutputMode.Append(), seed)(Envelope.encoder, seedEncoder)
      else g.transformWithState(dict, batchTime, OutputMode.Append(), seed)(Envelope.encoder, seedEncoder)
    } { g =>
      if (streaming) g.transformWithState(dict, Envelope.EventTime, OutputMode.Append())(Envelope.encoder)
      else g.transformWithState(dict, batchTime, OutputMode.Append())(Envelope.encoder)
    }

    val byPayee = afterDict.groupByKey(Envelope.key _)(Encoders.STRING)
    val decide = new DecisionOperator(record, settings, engine)
    val output = Envelope.rowEncoder(DecisionRecord.Output)
    val decideTime = if (streaming) TimeMode.EventTime() else batchTime
    val decided = withSeed(byPayee, payeeSeed, seedEvents) { (g, seed, seedEncoder) =>
      g.transformWithState(decide, decideTime, OutputMode.Append(), seed)(output, seedEncoder)
    } { g => g.transformWithState(decide, decideTime, OutputMode.Append())(output) }
    decided.toDF()
  }

  /** Keyed state outside a stream (a backfill) needs the state store coordinator, which Spark starts
    * with the session's stream manager: a session that has run no stream yet has none. */
  def ensureStateStoreCoordinator(df: DataFrame): Unit = df.sparkSession.streams.active

  /** With a seed (rows keyed by their first column, each made bytes by `toBytes`), the operator starts
    * from it as initial state. */
  private def withSeed(grouped: KeyValueGroupedDataset[String, Row], seed: DataFrame, toBytes: Row => Array[Byte])(
      seeded: (KeyValueGroupedDataset[String, Row], KeyValueGroupedDataset[String, Array[Byte]], Encoder[Array[Byte]]) => Dataset[Row])(
      unseeded: KeyValueGroupedDataset[String, Row] => Dataset[Row]): Dataset[Row] =
    Option(seed) match {
      case Some(s) =>
        val keyed = s.as[Row](Envelope.rowEncoder(s.schema))
          .map((r: Row) => (r.getString(0), toBytes(r)))(Encoders.tuple(Encoders.STRING, Encoders.BINARY))
          .groupByKey(_._1)(Encoders.STRING)
          .mapValues(_._2)(Encoders.BINARY)
        seeded(grouped, keyed, Encoders.BINARY)
      case None => unseeded(grouped)
    }

  private def seedEvents(r: Row): Array[Byte] = SeedEvents.of(r.getSeq[Row](1)).encode

  private def seedDictFacts(r: Row): Array[Byte] =
    DictFacts(if (r.isNullAt(1)) None else Some(r.getLong(1)), if (r.isNullAt(2)) None else Some(r.getLong(2))).encode

  /** Decided payments (the archive's `decisions` rows) -> one row per payer (or payee): its past
    * payments sorted by event time then end_to_end_id, amounts as doubles, the operators' initial state. */
  def payerHistory(decisions: DataFrame): DataFrame =
    eventsByKey(decisions, "payer_document", Seq("end_to_end_id", "amount", "payee_document", "payer_device_id"))

  def payeeHistory(decisions: DataFrame): DataFrame =
    eventsByKey(decisions, "payee_document", Seq("end_to_end_id", "amount", "payer_document"))

  private def eventsByKey(history: DataFrame, keyColumn: String, fields: Seq[String]): DataFrame = {
    val event = unix_millis(col("event_time")).as("event_time_ms") +: fields.map {
      case "amount" => col("amount_brl").cast("double").as("amount")
      case name => col(name)
    }
    history
      .where(col(keyColumn).isNotNull)
      .groupBy(col(keyColumn).as("key"))
      .agg(sort_array(collect_list(struct(event: _*))).as("events"))
  }

  /** key_registry and dict_marks -> one row per DICT value: (value, first created_at ms, first marked_at ms). */
  def dictEntries(keyRegistry: DataFrame, dictMarks: DataFrame): DataFrame = {
    val keys = Option(keyRegistry).map(_.where(col("key").isNotNull).groupBy(col("key").as("value"))
      .agg(unix_millis(min("created_at")).as("created_at_ms")))
    val marks = Option(dictMarks).map(_.where(col("marked_value").isNotNull).groupBy(col("marked_value").as("value"))
      .agg(unix_millis(min("marked_at")).as("marked_at_ms")))
    val entries = (keys, marks) match {
      case (Some(k), Some(m)) => k.join(m, Seq("value"), "full_outer")
      case (Some(k), None) => k.withColumn("marked_at_ms", lit(null).cast("long"))
      case (None, Some(m)) => m.select(col("value"), lit(null).cast("long").as("created_at_ms"), col("marked_at_ms"))
      case (None, None) => throw new IllegalArgumentException("dictEntries needs key_registry or dict_marks")
    }
    entries.select(col("value"), col("created_at_ms"), col("marked_at_ms"))
  }

  def payerFeatureNames: java.util.List[String] = java.util.List.of(PayerHistory.FeatureNames: _*)
  def payeeFeatureNames: java.util.List[String] = java.util.List.of(PayeeHistory.FeatureNames: _*)
}
