package pixguard.hotpath

import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions.UnsafeRow
import org.apache.spark.sql.types.StructType

/** The hot path's input rows, as pixguard/stream/hot_path.py defines them over the Kafka records of
  * pix.transactions, pix.dict-keys and pix.dict-marks (one row per record; compiled to a RowPipeline):
  *
  *  - kind: "payment" (valid), "quarantined" (with its reasons), "dict_key" or "dict_mark";
  *  - event_time: the payment's event time, or the broker's arrival time (the watermark's column);
  *  - payment: the typed payment (contract fields plus the Brasília calendar), null unless a payment;
  *  - quarantine_reasons, end_to_end_id (as parsed or raw), value (the message's bytes);
  *  - dict_value, dict_at: the key registered or the value marked, and when;
  *  - topic, partition, offset, kafka_timestamp, kafka_key: where the record was read.
  *
  * `envelope` turns one into what the operators exchange. */
final class HotPathInput(val schema: StructType) extends Serializable {
  private def at(name: String): Int = schema.fieldIndex(name)
  private val kindAt = at("kind")
  private val eventTimeAt = at(Envelope.EventTime)
  private val paymentAt = at("payment")
  private val reasonsAt = at("quarantine_reasons")
  private val endToEndIdAt = at("end_to_end_id")
  private val valueAt = at("value")
  private val dictValueAt = at("dict_value")
  private val dictAtAt = at("dict_at")
  private val topicAt = at("topic")
  private val partitionAt = at("partition")
  private val offsetAt = at("offset")
  private val kafkaTimestampAt = at("kafka_timestamp")
  private val kafkaKeyAt = at("kafka_key")

  val paymentSchema: StructType = schema(paymentAt).dataType.asInstanceOf[StructType]
  val layout = new PaymentLayout(paymentSchema)

  private def string(row: InternalRow, i: Int): String = if (row.isNullAt(i)) null else row.getUTF8String(i).toString

  /** The envelope of one input row: a payment keyed by its payer, the rest keyed for where it goes. */
  def envelope(row: InternalRow): org.apache.spark.sql.Row = {
    val eventMicros = row.getLong(eventTimeAt)
    val source = Source(string(row, topicAt), row.getInt(partitionAt), row.getLong(offsetAt), row.getLong(kafkaTimestampAt),
      string(row, kafkaKeyAt))
    val value = if (row.isNullAt(valueAt)) null else row.getBinary(valueAt)
    string(row, kindAt) match {
      case HotPathInput.Payment =>
        val payment = row.getStruct(paymentAt, paymentSchema.length).asInstanceOf[UnsafeRow].copy()
        Envelope(Kind.Payment, layout.string(payment, layout.payerDocument), eventMicros,
          InputPayment(source, payment.getBytes, value).encode)
      case HotPathInput.Quarantined =>
        val reasons = row.getArray(reasonsAt)
        val codes = Array.tabulate(reasons.numElements())(k => reasons.getUTF8String(k).toString)
        Envelope(Kind.Quarantined, source.id, eventMicros,
          QuarantinedRecord(source, string(row, endToEndIdAt), codes, value).encode)
      case HotPathInput.DictKey =>
        Envelope(Kind.DictKey, string(row, dictValueAt), eventMicros, DictFacts(Some(dictAtMs(row)), None).encode)
      case HotPathInput.DictMark =>
        Envelope(Kind.DictMark, string(row, dictValueAt), eventMicros, DictFacts(None, Some(dictAtMs(row))).encode)
      case other => throw new IllegalArgumentException(s"unknown hot path input kind '$other'")
    }
  }

  private def dictAtMs(row: InternalRow): Long = Math.floorDiv(row.getLong(dictAtAt), 1000L)
}

object HotPathInput {
  final val Payment = "payment"
  final val Quarantined = "quarantined"
  final val DictKey = "dict_key"
  final val DictMark = "dict_mark"
}

/** A valid payment as read: where it came from, the typed payment, the message's bytes (kept for the
  * quarantine should it be a repeat). */
final case class InputPayment(source: Source, payment: Array[Byte], value: Array[Byte]) {
  def encode: Array[Byte] = source.write(new Codec.Writer()).blob(payment).blob(value).result()
}

object InputPayment {
  def decode(bytes: Array[Byte]): InputPayment = {
    val r = new Codec.Reader(bytes, "a payment as read")
    InputPayment(Source.read(r), r.blob(), r.blob())
  }
}
