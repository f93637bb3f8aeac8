package pixguard.hotpath

import scala.collection.mutable.ArrayBuffer

import org.apache.spark.sql.{Encoders, Row}
import org.apache.spark.sql.streaming.{OutputMode, StatefulProcessorWithInitialState, TTLConfig, TimeMode, TimerValues, ValueState}

/** Keyed by a DICT value (a Pix key, a CPF/CNPJ, an account ISPB:branch:account): the DICT mirror as
  * keyed state, fed by pix.dict-keys and pix.dict-marks. For each value it keeps when it was first
  * registered as a key and when it was first marked for fraud; a payment's probes are answered from
  * it, each answer sent back keyed by the payee's document, where the decision operator collects them.
  *
  * The registry and the marks arrive as streams, so a key or mark published while the job runs is
  * in force from the micro-batch that reads it, and no batch scans a table. Within a batch a value's
  * DICT events are applied before its probes are answered; whether a mark applies is decided later
  * against the payment's event time (a mark made after the payment does not count).
  *
  * Initial state (`HotPath.dictEntries`): key_registry and dict_marks as the archive holds them, for a
  * new query. Entries are never forgotten: the registry is the whole of DICT. */
class DictOperator extends StatefulProcessorWithInitialState[String, Row, Row, Array[Byte]] {

  @transient private var entry: ValueState[Array[Byte]] = _

  override def init(outputMode: OutputMode, timeMode: TimeMode): Unit =
    entry = getHandle.getValueState[Array[Byte]]("dict_entry", Encoders.BINARY, TTLConfig.NONE)

  override def handleInitialState(key: String, initial: Array[Byte], timerValues: TimerValues): Unit = {
    val stored = Option(entry.get()).map(DictFacts.decode).getOrElse(DictFacts.None)
    entry.update(stored.merge(DictFacts.decode(initial)).encode)
  }

  override def handleInputRows(key: String, rows: Iterator[Row], timerValues: TimerValues): Iterator[Row] = {
    val asks = ArrayBuffer.empty[Row]
    val out = ArrayBuffer.empty[Row]
    var facts: DictFacts = null // read on first use: most values only ever see DICT events or probes
    def current: DictFacts = {
      if (facts == null) facts = Option(entry.get()).map(DictFacts.decode).getOrElse(DictFacts.None)
      facts
    }
    var changed = false
    rows.foreach { row =>
      Envelope.kind(row) match {
        case Kind.DictKey | Kind.DictMark =>
          val merged = current.merge(DictFacts.decode(Envelope.data(row)))
          changed ||= merged != facts
          facts = merged
        case Kind.Payload | Kind.Probe => asks += row
        case _ => out += row
      }
    }
    if (changed) entry.update(facts.encode)
    asks.foreach { row =>
      val at = Envelope.eventTimeMicros(row)
      if (Envelope.kind(row) == Kind.Payload) {
        val payload = Payload.decode(Envelope.data(row)).copy(keyFacts = current)
        out += Envelope(Kind.Payload, payload.payeeDocument, at, payload.encode)
      } else {
        val probe = Probe.decode(Envelope.data(row))
        out += Envelope(Kind.Fact, probe.replyTo, at, Fact(probe.endToEndId, probe.role, current).encode)
      }
    }
    out.iterator
  }
}
