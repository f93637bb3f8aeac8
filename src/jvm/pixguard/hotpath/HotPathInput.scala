package pixguard.hotpath

import org.apache.spark.sql.Row
import org.apache.spark.sql.types.StructType

/** The hot path's input rows, as pixguard/stream/hot_path.py builds them from the Kafka records of
  * pix.transactions, pix.dict-keys and pix.dict-marks (one source, one row per record):
  *
  *  - kind: "payment" (valid), "quarantined" (with its reasons), "dict_key" or "dict_mark";
  *  - event_time: the payment's event time, or the broker's arrival time (the watermark's column);
  *  - payment: the typed payment (contract fields plus the Brasília calendar), null unless a payment;
  *  - quarantine_reasons, end_to_end_id (as parsed or raw), value (the message's bytes);
  *  - dict_value, dict_at: the key registered or the value marked, and when;
  *  - topic, partition, offset, kafka_timestamp, kafka_key: where the record was read. */
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

  def kind(row: Row): String = row.getString(kindAt)
  def eventTimeMicros(row: Row): Long = Envelope.micros(row.get(eventTimeAt))
  def payment(row: Row): Row = row.getStruct(paymentAt)
  def reasons(row: Row): Array[String] = if (row.isNullAt(reasonsAt)) Array.empty else row.getSeq[String](reasonsAt).toArray
  def endToEndId(row: Row): String = if (row.isNullAt(endToEndIdAt)) null else row.getString(endToEndIdAt)
  def value(row: Row): Array[Byte] = if (row.isNullAt(valueAt)) null else row.getAs[Array[Byte]](valueAt)
  def dictValue(row: Row): String = row.getString(dictValueAt)
  def dictAtMs(row: Row): Long = Math.floorDiv(Envelope.micros(row.get(dictAtAt)), 1000L)

  def source(row: Row): Source = Source(
    row.getString(topicAt),
    row.getInt(partitionAt),
    row.getLong(offsetAt),
    Envelope.micros(row.get(kafkaTimestampAt)),
    if (row.isNullAt(kafkaKeyAt)) null else row.getString(kafkaKeyAt))
}

object HotPathInput {
  final val Payment = "payment"
  final val Quarantined = "quarantined"
  final val DictKey = "dict_key"
  final val DictMark = "dict_mark"
}
