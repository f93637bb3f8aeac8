package pixguard.features

import org.apache.spark.sql.{DataFrame, Encoder, Encoders, KeyValueGroupedDataset, Row}
import org.apache.spark.sql.functions.{col, collect_list, sort_array, struct}
import org.apache.spark.sql.streaming.{
  ExpiredTimerInfo,
  OutputMode,
  StatefulProcessorWithInitialState,
  TTLConfig,
  TimeMode,
  MapState,
  TimerValues,
  ValueState
}
import org.apache.spark.sql.types.{BooleanType, DataType, DoubleType, LongType, StructType}

/** The two keyed-state operators that serve the features (Spark 4 `transformWithState`, RocksDB).
  *
  * They run in the JVM, not in a Python worker: the PySpark processors paid one socket round trip to
  * the state server per state call and per key, about 1 ms per row, which capped the whole job below
  * 1,000 tx/s on two cores (bench/RESULTS.md). Called from Python through py4j by
  * pixguard/features/enrich.py, which owns the plan; this object only adds the two operators.
  *
  * Histories of keys that go quiet expire through an event-time timer (processing-time TTL would keep
  * an availableNow query running no-data batches forever). The timer is set once, `stateTtlMs` after
  * the key's first transaction, and not moved on every payment: when it fires, a key that was active
  * since is given a new timer `stateTtlMs` after its latest transaction, and only a key quiet for
  * `stateTtlMs` is cleared.
  *
  * `history` (payments already decided, or null) seeds the state of a query's first micro-batch
  * (Spark's initial state: ignored when the query resumes from its checkpoint), so a new query does
  * not serve every payer as unknown. */
object BehaviourFeatures {
  val EventTimeMs = "event_time_ms"
  val IsDuplicate = "is_duplicate"
  /** What a payer's history keeps of a past payment, in replay order (sort_array sorts on the first field). */
  val PayerEvent: Seq[String] = Seq(EventTimeMs, "end_to_end_id", "amount", "payee_document", "payer_device_id")
  val PayeeEvent: Seq[String] = Seq(EventTimeMs, "end_to_end_id", "amount", "payer_document")

  /** Rows keyed by payer_document -> the same rows plus payer features and `is_duplicate`. */
  def withPayerFeatures(timed: DataFrame, eventTimeColumn: String, stateTtlMs: Long, history: DataFrame): DataFrame = {
    val out = withColumns(timed.schema, PayerHistory.FeatureNames).add(IsDuplicate, BooleanType, nullable = false)
    transform(timed, "payer_document", new PayerFeatures(stateTtlMs), eventTimeColumn, out, history, PayerEvent)
  }

  /** Rows keyed by payee_document -> the same rows plus payee features (null on duplicates). */
  def withPayeeFeatures(withPayer: DataFrame, eventTimeColumn: String, stateTtlMs: Long, history: DataFrame): DataFrame = {
    val out = withColumns(withPayer.schema, PayeeHistory.FeatureNames)
    transform(withPayer, "payee_document", new PayeeFeatures(stateTtlMs), eventTimeColumn, out, history, PayeeEvent)
  }

  def payerFeatureNames: java.util.List[String] = java.util.List.of(PayerHistory.FeatureNames: _*)

  def payeeFeatureNames: java.util.List[String] = java.util.List.of(PayeeHistory.FeatureNames: _*)

  private def transform(
      df: DataFrame,
      keyColumn: String,
      processor: ExpiringHistory[_],
      eventTimeColumn: String,
      out: StructType,
      history: DataFrame,
      event: Seq[String]): DataFrame = {
    val keyIndex = df.schema.fieldIndex(keyColumn)
    val grouped = df.groupByKey((row: Row) => row.getString(keyIndex))(Encoders.STRING)
    Option(history) match {
      case None => grouped.transformWithState(processor, eventTimeColumn, OutputMode.Append())(Encoders.row(out))
      case Some(past) =>
        val initial = eventsByKey(past, keyColumn, event)
        grouped.transformWithState(processor, eventTimeColumn, OutputMode.Append(), initial._1)(
          Encoders.row(out),
          Encoders.row(initial._2))
    }
  }

  /** One row per key: (key, events sorted by event time then end_to_end_id), amounts as doubles. */
  private def eventsByKey(history: DataFrame, keyColumn: String, event: Seq[String])
      : (KeyValueGroupedDataset[String, Row], StructType) = {
    val fields = event.map(name => if (name == "amount") col("amount_brl").cast("double").as(name) else col(name))
    val events = history
      .where(col(keyColumn).isNotNull)
      .groupBy(col(keyColumn).as("key"))
      .agg(sort_array(collect_list(struct(fields: _*))).as("events"))
    (events.groupByKey((row: Row) => row.getString(0))(Encoders.STRING), events.schema)
  }

  private def withColumns(schema: StructType, names: Seq[String]): StructType =
    names.foldLeft(schema)((s, name) => s.add(name, featureType(name), nullable = true))

  private val CountFeatures = Set(
    "payer_history_tx_count",
    "payer_first_payment_to_payee",
    "payer_new_device",
    "payer_distinct_payees_24h",
    "payee_distinct_payers_1h")

  private def featureType(name: String): DataType =
    if (CountFeatures(name) || name.contains("_count_")) LongType else DoubleType
}

/** One history value per key, cleared when the key has been quiet for `stateTtlMs` of event time. */
abstract class ExpiringHistory[S](stateName: String, stateTtlMs: Long)(implicit encoder: Encoder[S])
    extends StatefulProcessorWithInitialState[String, Row, Row, Row] {

  @transient protected var history: ValueState[S] = _

  override def init(outputMode: OutputMode, timeMode: TimeMode): Unit =
    history = getHandle.getValueState[S](stateName, encoder, TTLConfig.NONE)

  protected def latestMs(state: S): Option[Long]

  /** The key's stored history or null, in one state call (no `exists` first). */
  protected def load(): S = history.get()

  protected def save(state: S, newKey: Boolean): Unit = {
    history.update(state)
    if (newKey) latestMs(state).foreach(latest => getHandle.registerTimer(latest + stateTtlMs))
  }

  override def handleExpiredTimer(key: String, timerValues: TimerValues, expired: ExpiredTimerInfo): Iterator[Row] = {
    Option(load()).flatMap(latestMs) match {
      case Some(latest) if latest + stateTtlMs > expired.getExpiryTimeInMs() =>
        getHandle.registerTimer(latest + stateTtlMs) // active since the timer was set
      case _ => forget()
    }
    Iterator.empty
  }

  /** Clear everything the key holds. */
  protected def forget(): Unit = history.clear()

  /** A key's past payments (a row of `events`, see BehaviourFeatures.eventsByKey), recorded without output. */
  protected def seed(stored: Option[S], events: Seq[Row]): Option[S]

  override def handleInitialState(key: String, past: Row, timerValues: TimerValues): Unit = {
    val stored = Option(load())
    seed(stored, past.getSeq[Row](past.fieldIndex("events"))).foreach(state => save(state, newKey = stored.isEmpty))
  }

  /** amount_brl as a double, whether the contract types it as decimal or double. */
  protected def amountOf(row: Row): Double = row.getAs[Any]("amount_brl") match {
    case d: java.math.BigDecimal => d.doubleValue
    case n: Number => n.doubleValue
  }

  /** A key's rows in event-time order (ties by end_to_end_id), so a batch replays deterministically. */
  protected def ordered(rows: Iterator[Row]): Array[Row] =
    rows.toArray.sortBy(r => (r.getAs[Long](BehaviourFeatures.EventTimeMs), r.getAs[String]("end_to_end_id")))
}

/** Keyed by payer document: velocity, amounts against the payer's own history, new payee and device,
  * and duplicate detection on end_to_end_id (a repeat is flagged, never silently dropped).
  *
  * The end_to_end_ids of the last DuplicateHorizonMs of event time are a map state of their own, not
  * part of the history value: a payer paying thousands of times a day (a payroll, a marketplace's
  * payouts) keeps every id without rewriting them all with each payment. */
class PayerFeatures(stateTtlMs: Long)
    extends ExpiringHistory[PayerState]("payer_history", stateTtlMs)(Encoders.product[PayerState]) {

  @transient private var seen: MapState[String, Long] = _

  override def init(outputMode: OutputMode, timeMode: TimeMode): Unit = {
    super.init(outputMode, timeMode)
    seen = getHandle.getMapState[String, Long]("payer_seen_ids", Encoders.STRING, Encoders.scalaLong, TTLConfig.NONE)
  }

  override protected def forget(): Unit = {
    super.forget()
    seen.clear()
  }

  override protected def latestMs(state: PayerState): Option[Long] = state.lastTs

  private def markSeen(h: PayerHistory, endToEndId: String, tsMs: Long): Unit = {
    seen.updateValue(endToEndId, tsMs)
    h.seenSince = Some(h.seenSince.fold(tsMs)(math.min(_, tsMs)))
  }

  /** Drop the ids older than the horizon; the map is read only when its oldest id has aged out. */
  private def forgetSeenBefore(h: PayerHistory, cutoffMs: Long): Unit =
    if (h.seenSince.exists(_ < cutoffMs)) {
      val (aged, kept) = seen.iterator().toVector.partition(_._2 < cutoffMs) // read all, then remove
      aged.foreach { case (id, _) => seen.removeKey(id) }
      h.seenSince = kept.map(_._2).minOption
    }

  override protected def seed(stored: Option[PayerState], events: Seq[Row]): Option[PayerState] = {
    val h = stored.fold(new PayerHistory)(PayerHistory.from)
    val horizonStart = events.lastOption.map(_.getLong(0) - Windows.DuplicateHorizonMs)
    events.foreach { e =>
      h.record(e.getLong(0), e.getDouble(2), e.getString(3), e.getString(4))
      if (horizonStart.exists(e.getLong(0) >= _)) markSeen(h, e.getString(1), e.getLong(0))
    }
    h.latestMs.foreach { latest =>
      h.prune(latest)
      forgetSeenBefore(h, latest - Windows.DuplicateHorizonMs)
    }
    Some(h.toState)
  }

  override def handleInputRows(key: String, rows: Iterator[Row], timerValues: TimerValues): Iterator[Row] = {
    val stored = load()
    val h = if (stored == null) new PayerHistory else PayerHistory.from(stored)
    var latest = h.lastTs.getOrElse(0L)
    val missing = Seq.fill[Any](PayerHistory.FeatureNames.length)(null)
    val out = ordered(rows).map { row =>
      val endToEndId = row.getAs[String]("end_to_end_id")
      if (seen.containsKey(endToEndId)) {
        Row.fromSeq(row.toSeq ++ missing :+ true)
      } else {
        val ts = row.getAs[Long](BehaviourFeatures.EventTimeMs)
        val amount = amountOf(row)
        val payee = row.getAs[String]("payee_document")
        val device = row.getAs[String]("payer_device_id")
        val features = h.featuresFor(ts, amount, payee, device)
        h.record(ts, amount, payee, device)
        markSeen(h, endToEndId, ts)
        latest = math.max(latest, ts)
        Row.fromSeq(row.toSeq ++ features :+ false)
      }
    }
    h.prune(latest)
    forgetSeenBefore(h, latest - Windows.DuplicateHorizonMs)
    save(h.toState, newKey = stored == null)
    out.iterator
  }
}

/** Keyed by payee document: inbound velocity and distinct payers (mule fan-in). */
class PayeeFeatures(stateTtlMs: Long)
    extends ExpiringHistory[PayeeState]("payee_history", stateTtlMs)(Encoders.product[PayeeState]) {

  override protected def latestMs(state: PayeeState): Option[Long] = state.recentTs.maxOption

  override protected def seed(stored: Option[PayeeState], events: Seq[Row]): Option[PayeeState] = {
    val h = stored.fold(new PayeeHistory)(PayeeHistory.from)
    events.foreach(e => h.record(e.getLong(0), e.getDouble(2), e.getString(3)))
    h.latestMs.foreach(h.prune)
    if (h.isEmpty) None else Some(h.toState)
  }

  override def handleInputRows(key: String, rows: Iterator[Row], timerValues: TimerValues): Iterator[Row] = {
    val stored = load()
    val h = if (stored == null) new PayeeHistory else PayeeHistory.from(stored)
    var latest = h.latestMs.getOrElse(0L)
    val missing = Seq.fill[Any](PayeeHistory.FeatureNames.length)(null)
    val out = ordered(rows).map { row =>
      if (row.getAs[Boolean](BehaviourFeatures.IsDuplicate)) {
        Row.fromSeq(row.toSeq ++ missing)
      } else {
        val ts = row.getAs[Long](BehaviourFeatures.EventTimeMs)
        val features = h.featuresFor(ts)
        h.record(ts, amountOf(row), row.getAs[String]("payer_document"))
        latest = math.max(latest, ts)
        Row.fromSeq(row.toSeq ++ features)
      }
    }
    h.prune(latest)
    // A new payee whose only rows were duplicates has no history worth a state value or a timer.
    if (stored != null || !h.isEmpty) save(h.toState, newKey = stored == null)
    out.iterator
  }
}
