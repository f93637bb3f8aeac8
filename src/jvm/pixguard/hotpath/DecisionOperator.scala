package pixguard.hotpath

import scala.collection.mutable
import scala.collection.mutable.ArrayBuffer

import org.apache.spark.sql.{Encoders, Row}
import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions.{GenericInternalRow, JoinedRow}
import org.apache.spark.sql.catalyst.util.GenericArrayData
import org.apache.spark.sql.streaming.{MapState, OutputMode, TTLConfig, TimeMode, TimerValues}
import org.apache.spark.unsafe.types.UTF8String

import pixguard.features.PayeeHistory
import pixguard.serving.{DecisionEngine, Outcome, Serving}

/** Keyed by payee document: a payment's payload and its DICT answers meet here; then the payee
  * features (inbound velocity, distinct payers: mule fan-in), the decision, and the Kafka records:
  * pix.decisions, pix.alerts (REVIEW and BLOCK, with every served feature), pix.dlq (quarantined
  * records) and pix.decision-log (every outcome of every record, which the archive writes to Delta).
  *
  * In a micro-batch a payment's parts all arrive in the same batch; in real-time mode they may not,
  * so a payment missing parts waits in a map state of its own until they come. */
class DecisionOperator(record: DecisionRecord, settings: HotPathSettings, engine: DecisionEngine)
    extends ExpiringHistory("payee_history", settings.stateTtlMs) {

  @transient private var waiting: MapState[String, Array[Byte]] = _
  private val layout = new PaymentLayout(record.paymentSchema)
  private val enrichmentWidth = record.enrichment.length

  override def init(outputMode: OutputMode, timeMode: TimeMode): Unit = {
    super.init(outputMode, timeMode)
    waiting = getHandle.getMapState[String, Array[Byte]]("waiting_parts", Encoders.STRING, Encoders.BINARY, TTLConfig.NONE)
  }

  override protected def latestMs(stored: Array[Byte]): Option[Long] = PayeeHistory.decode(stored).latestMs

  override def handleInitialState(key: String, past: Array[Byte], timerValues: TimerValues): Unit = {
    val stored = Option(history.get())
    val h = stored.fold(new PayeeHistory)(PayeeHistory.decode)
    val events = SeedEvents.decode(past)
    for (i <- 0 until events.length) h.record(events.ts(i), events.amounts(i), events.first(i))
    h.latestMs.foreach(h.prune)
    if (!h.isEmpty) save(h.encode, h.latestMs, newKey = stored.isEmpty)
  }

  override def handleInputRows(key: String, rows: Iterator[Row], timerValues: TimerValues): Iterator[Row] = {
    val out = ArrayBuffer.empty[Row]
    val parts = mutable.LinkedHashMap.empty[String, Parts]
    rows.foreach { row =>
      Envelope.kind(row) match {
        case Kind.Quarantined => out ++= quarantineRecords(QuarantinedRecord.decode(Envelope.data(row)))
        case Kind.Payload =>
          val payload = Payload.decode(Envelope.data(row))
          parts.getOrElseUpdate(payload.endToEndId, new Parts).payload = payload
        case Kind.Fact =>
          val fact = Fact.decode(Envelope.data(row))
          parts.getOrElseUpdate(fact.endToEndId, new Parts).facts += fact
        case other => throw new IllegalStateException(s"the decision operator got a record of kind $other")
      }
    }
    val complete = parts.toSeq.flatMap { case (id, p) => completed(id, p) }
    if (complete.nonEmpty) decide(complete, out)
    out.iterator
  }

  /** The payment with all its parts, or None (it waits, with what has come, for the rest). */
  private def completed(endToEndId: String, arrived: Parts): Option[Parts] = {
    val p = if (arrived.isComplete) arrived else arrived.merge(Option(waiting.getValue(endToEndId)).map(Parts.decode))
    if (p.isComplete) {
      if (!(arrived eq p)) waiting.removeKey(endToEndId)
      Some(p)
    } else {
      waiting.updateValue(endToEndId, p.encode)
      None
    }
  }

  private def decide(payments: Seq[Parts], out: ArrayBuffer[Row]): Unit = {
    val state = Serving.state(settings.servingDir, settings.servingRefreshMs)
    val stored = history.get()
    val h = if (stored == null) new PayeeHistory else PayeeHistory.decode(stored)
    var latest = h.latestMs.getOrElse(0L)
    val rows = payments.map(p => p -> layout.row(p.payload.payment))
    rows.sortBy { case (p, r) => (layout.eventTimeMicros(r), p.payload.endToEndId) }.foreach { case (p, payment) =>
      val eventMicros = layout.eventTimeMicros(payment)
      val ts = Math.floorDiv(eventMicros, 1000L)
      val payeeFeatures = h.featuresFor(ts)
      h.record(ts, layout.amountValue(payment), layout.string(payment, layout.payerDocument))
      latest = math.max(latest, ts)
      val enriched = new JoinedRow(payment, enrichment(p, ts, payeeFeatures))
      val decidedAt = decisionTimeMicros
      val outcome = engine.decide(state, enriched)
      val full = new JoinedRow(enriched, new JoinedRow(outcomeRow(outcome, decidedAt, eventMicros), sourceRow(p.payload.source)))
      val key = p.payload.endToEndId
      val logValue = JsonRows.write(record.schema, full, record.allFields, Seq("outcome" -> DecisionRecord.Decided))
      out += Row(settings.decisionsTopic, key, JsonRows.write(record.schema, full, record.eventFields))
      if (outcome.decision != "APPROVE") out += Row(settings.alertsTopic, key, logValue)
      out += Row(settings.decisionLogTopic, p.payload.source.id, logValue)
    }
    h.prune(latest)
    if (stored != null || !h.isEmpty) save(h.encode, h.latestMs, newKey = stored == null)
  }

  private def decisionTimeMicros: Long =
    (if (settings.fixedDecidedAtMs >= 0) settings.fixedDecidedAtMs else System.currentTimeMillis()) * 1000L

  private def enrichment(p: Parts, tsMs: Long, payeeFeatures: Seq[Any]): InternalRow = {
    val values = new Array[Any](enrichmentWidth)
    val key = p.payload.keyFacts
    // A key created after the payment (a backfill's registry holds the keys of later days) had no age then.
    values(0) = key.createdAtMs.filter(_ <= tsMs).map(c => HotPath.roundHalfUp((tsMs - c) / 86400000.0, 3)).map(Double.box).orNull
    def markedBefore(f: DictFacts) = f.markedAtMs.exists(_ <= tsMs)
    val facts = p.facts.map(f => f.role -> f.facts).toMap + (Role.PayeeKey -> key)
    values(1) = Role.Payee.exists(r => facts.get(r).exists(markedBefore))
    values(2) = Seq(Role.PayerDocument, Role.PayerAccount).exists(r => facts.get(r).exists(markedBefore))
    (p.payload.payerFeatures ++ payeeFeatures).zipWithIndex.foreach { case (v, i) => values(3 + i) = v }
    new GenericInternalRow(values)
  }

  private def strings(values: Array[String]): GenericArrayData =
    if (values == null) null else new GenericArrayData(values.map(v => UTF8String.fromString(v): Any))

  private def outcomeRow(o: Outcome, decidedAt: Long, eventMicros: Long): InternalRow = new GenericInternalRow(
    Array[Any](
      o.score,
      strings(o.modelReasons),
      strings(o.ruleHits),
      UTF8String.fromString(o.decision),
      strings(o.reasons),
      UTF8String.fromString(o.modelVersion),
      UTF8String.fromString(o.rulesVersion),
      decidedAt,
      Math.floorDiv(decidedAt - eventMicros, 1000L)))

  private def sourceRow(s: Source): InternalRow = new GenericInternalRow(
    Array[Any](UTF8String.fromString(s.topic), s.partition, s.offset, s.timestampMicros, UTF8String.fromString(s.kafkaKey)))

  private def quarantineRecords(q: QuarantinedRecord): Seq[Row] = {
    val row = new GenericInternalRow(
      Array[Any](
        UTF8String.fromString(q.reasons.headOption.orNull),
        strings(q.reasons),
        UTF8String.fromString(q.endToEndId),
        UTF8String.fromString(Option(q.value).map(java.util.Base64.getEncoder.encodeToString).orNull)) ++
        sourceRow(q.source).toSeq(DecisionRecord.SourceFields) :+ decisionTimeMicros)
    val schema = DecisionRecord.Quarantine
    val value = JsonRows.write(schema, row, schema.indices, Seq("outcome" -> DecisionRecord.Quarantined))
    Seq(Row(settings.dlqTopic, q.endToEndId, value), Row(settings.decisionLogTopic, q.source.id, value))
  }
}

/** A payment's parts as they arrive: its payload and the DICT answers to its probes. */
final class Parts {
  var payload: Payload = _
  val facts: ArrayBuffer[Fact] = ArrayBuffer.empty

  def isComplete: Boolean = payload != null && facts.length >= payload.probes

  def merge(stored: Option[Parts]): Parts = stored.fold(this) { s =>
    val merged = new Parts
    merged.payload = Option(payload).getOrElse(s.payload)
    merged.facts ++= s.facts ++ facts
    merged
  }

  def encode: Array[Byte] = {
    val w = new Codec.Writer().blob(Option(payload).map(_.encode).orNull).int(facts.length)
    facts.foreach(f => w.blob(f.encode))
    w.result()
  }
}

object Parts {
  def decode(bytes: Array[Byte]): Parts = {
    val r = new Codec.Reader(bytes, "a payment's waiting parts")
    val p = new Parts
    p.payload = Option(r.blob()).map(Payload.decode).orNull
    p.facts ++= (0 until r.int()).map(_ => Fact.decode(r.blob()))
    p
  }
}
