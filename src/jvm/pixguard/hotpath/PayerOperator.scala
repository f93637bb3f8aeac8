package pixguard.hotpath

import scala.collection.mutable.ArrayBuffer

import org.apache.spark.sql.{Encoders, Row}
import org.apache.spark.sql.catalyst.expressions.UnsafeRow
import org.apache.spark.sql.streaming.{
  ExpiredTimerInfo,
  MapState,
  OutputMode,
  StatefulProcessorWithInitialState,
  TTLConfig,
  TimeMode,
  TimerValues,
  ValueState
}
import org.apache.spark.sql.types.StructType

import pixguard.features.{PayerHistory, Windows}

/** A key's history in one binary state value, forgotten once the key has been quiet for `stateTtlMs`
  * of event time. Histories of keys that go quiet expire through an event-time timer (processing-time
  * TTL would keep an availableNow query running no-data batches forever). The timer is set once,
  * `stateTtlMs` after the key's first payment, and not moved on every payment: when it fires, a key
  * that was active since gets a new timer `stateTtlMs` after its latest payment, and only a key quiet
  * for `stateTtlMs` is cleared. */
abstract class ExpiringHistory(stateName: String, stateTtlMs: Long)
    extends StatefulProcessorWithInitialState[String, Row, Row, Array[Byte]] {

  @transient protected var history: ValueState[Array[Byte]] = _
  // A batch run (the backfill) has no event time to expire by, and no timers: it ends.
  @transient private var expires: Boolean = _

  override def init(outputMode: OutputMode, timeMode: TimeMode): Unit = {
    history = getHandle.getValueState[Array[Byte]](stateName, Encoders.BINARY, TTLConfig.NONE)
    expires = timeMode == TimeMode.EventTime()
  }

  protected def latestMs(stored: Array[Byte]): Option[Long]

  protected def save(state: Array[Byte], latest: Option[Long], newKey: Boolean): Unit = {
    history.update(state)
    if (newKey && expires) latest.foreach(ms => getHandle.registerTimer(ms + stateTtlMs))
  }

  override def handleExpiredTimer(key: String, timerValues: TimerValues, expired: ExpiredTimerInfo): Iterator[Row] = {
    Option(history.get()).flatMap(latestMs) match {
      case Some(latest) if latest + stateTtlMs > expired.getExpiryTimeInMs() =>
        getHandle.registerTimer(latest + stateTtlMs) // active since the timer was set
      case _ => forget()
    }
    Iterator.empty
  }

  protected def forget(): Unit = history.clear()
}

/** Keyed by payer document: duplicate detection on end_to_end_id (a repeat is quarantined, never
  * silently dropped), then the payer features (velocity, amounts against the payer's own history, new
  * payee and device). A payment leaves as its payload, keyed by the payee's key, and one DICT probe
  * for each other value DICT may hold a mark on; every other record passes through.
  *
  * The end_to_end_ids of the last DuplicateHorizonMs of event time are a map state of their own, not
  * part of the history value: a payer paying thousands of times a day (a payroll, a marketplace's
  * payouts) keeps every id without rewriting them all with each payment.
  *
  * Initial state (`HotPath.payerHistory`): the payments a new query's past holds, so a new query does
  * not serve every payer as unknown (Spark ignores it when the query resumes from its checkpoint). */
class PayerOperator(layout: PaymentLayout, stateTtlMs: Long) extends ExpiringHistory("payer_history", stateTtlMs) {

  @transient private var seen: MapState[String, Long] = _

  override def init(outputMode: OutputMode, timeMode: TimeMode): Unit = {
    super.init(outputMode, timeMode)
    seen = getHandle.getMapState[String, Long]("payer_seen_ids", Encoders.STRING, Encoders.scalaLong, TTLConfig.NONE)
  }

  override protected def forget(): Unit = {
    super.forget()
    seen.clear()
  }

  override protected def latestMs(stored: Array[Byte]): Option[Long] = PayerHistory.decode(stored).lastTs

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

  override def handleInitialState(key: String, past: Array[Byte], timerValues: TimerValues): Unit = {
    val stored = Option(history.get())
    val h = stored.fold(new PayerHistory)(PayerHistory.decode)
    val events = SeedEvents.decode(past)
    val horizonStart = events.ts.lastOption.map(_ - Windows.DuplicateHorizonMs)
    for (i <- 0 until events.length) {
      h.record(events.ts(i), events.amounts(i), events.first(i), events.second(i))
      if (horizonStart.exists(events.ts(i) >= _)) markSeen(h, events.ids(i), events.ts(i))
    }
    h.latestMs.foreach { latest =>
      h.prune(latest)
      forgetSeenBefore(h, latest - Windows.DuplicateHorizonMs)
    }
    save(h.encode, h.lastTs, newKey = stored.isEmpty)
  }

  override def handleInputRows(key: String, rows: Iterator[Row], timerValues: TimerValues): Iterator[Row] = {
    val out = ArrayBuffer.empty[Row]
    val payments = ArrayBuffer.empty[(InputPayment, UnsafeRow)]
    rows.foreach { row =>
      if (Envelope.kind(row) == Kind.Payment) {
        val payment = InputPayment.decode(Envelope.data(row))
        payments += payment -> layout.row(payment.payment)
      } else out += row // quarantined, or DICT: on to the next operators
    }
    if (payments.nonEmpty) decidePayments(payments, out)
    out.iterator
  }

  private def repeat(input: InputPayment, endToEndId: String, eventMicros: Long): Row =
    Envelope(Kind.Quarantined, input.source.id, eventMicros,
      QuarantinedRecord(input.source, endToEndId, Array("duplicate_end_to_end_id"), input.value).encode)

  private def decidePayments(payments: ArrayBuffer[(InputPayment, UnsafeRow)], out: ArrayBuffer[Row]): Unit = {
    val stored = history.get()
    val h = if (stored == null) new PayerHistory else PayerHistory.decode(stored)
    var latest = h.lastTs.getOrElse(0L)
    val ordered = payments.sortBy { case (_, p) => (layout.eventTimeMicros(p), layout.string(p, layout.endToEndId)) }
    ordered.foreach { case (input, p) =>
      val endToEndId = layout.string(p, layout.endToEndId)
      val eventMicros = layout.eventTimeMicros(p)
      if (seen.containsKey(endToEndId)) {
        out += repeat(input, endToEndId, eventMicros)
      } else {
        val ts = Math.floorDiv(eventMicros, 1000L)
        val amount = layout.amountValue(p)
        val payee = layout.string(p, layout.payeeDocument)
        val device = layout.string(p, layout.payerDevice)
        val features = h.featuresFor(ts, amount, payee, device)
        h.record(ts, amount, payee, device)
        markSeen(h, endToEndId, ts)
        latest = math.max(latest, ts)
        emitPayment(input, p, endToEndId, eventMicros, features.toIndexedSeq, out)
      }
    }
    h.prune(latest)
    forgetSeenBefore(h, latest - Windows.DuplicateHorizonMs)
    save(h.encode, h.lastTs, newKey = stored == null)
  }

  /** The payload, keyed by the payee's key for the DICT operator, and one probe per other DICT value. */
  private def emitPayment(input: InputPayment, p: UnsafeRow, endToEndId: String, eventMicros: Long,
      features: IndexedSeq[Any], out: ArrayBuffer[Row]): Unit = {
    val payeeDocument = layout.string(p, layout.payeeDocument)
    val probes = Seq(
      Role.PayeeDocument -> payeeDocument,
      Role.PayeeAccount -> layout.account(p, layout.payeeAccount),
      Role.PayerDocument -> layout.string(p, layout.payerDocument),
      Role.PayerAccount -> layout.account(p, layout.payerAccount)).filter { case (_, v) => v != null && v.nonEmpty }
    val payeeKey = Option(layout.string(p, layout.payeeKey)).filter(_.nonEmpty)
    // A payment without a key is sent under a value no DICT entry has: its key has no facts.
    val payloadKey = payeeKey.getOrElse(HotPath.NoDictValue + endToEndId)
    val payload = Payload(input.source, input.payment, endToEndId, payeeDocument, features, probes.length, DictFacts.None)
    out += Envelope(Kind.Payload, payloadKey, eventMicros, payload.encode)
    probes.foreach { case (role, value) =>
      out += Envelope(Kind.Probe, value, eventMicros, Probe(endToEndId, role, payeeDocument).encode)
    }
  }
}
