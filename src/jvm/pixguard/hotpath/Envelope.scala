package pixguard.hotpath

import org.apache.spark.sql.{Encoder, Row}
import org.apache.spark.sql.catalyst.encoders.ExpressionEncoder
import org.apache.spark.sql.catalyst.expressions.UnsafeRow
import org.apache.spark.sql.catalyst.util.DateTimeUtils
import org.apache.spark.sql.types.{BinaryType, IntegerType, StringType, StructField, StructType, TimestampType}

/** What an operator hands the next one: a kind, the key the next operator groups by, the event time
  * (the column the watermark follows) and the record itself as bytes (Codec). */
object Kind {
  final val Quarantined = 1 // invalid, or a repeat: passes every operator to its outcome
  final val DictKey = 2 // a key registered in DICT: kept by the DICT operator
  final val DictMark = 3 // a fraud mark on a key, document or account: kept by the DICT operator
  final val Payload = 4 // a payment with its payer features, on its way to be decided
  final val Probe = 5 // a DICT question about one of a payment's values
  final val Fact = 6 // the DICT answer to a probe, on its way back to its payment
  final val Payment = 7 // a valid payment as read, on its way to its payer's operator
}

object Envelope {
  val EventTime = "event_time"

  val schema: StructType = StructType(
    Seq(
      StructField("kind", IntegerType, nullable = false),
      StructField("key", StringType, nullable = false),
      StructField(EventTime, TimestampType, nullable = false),
      StructField("data", BinaryType, nullable = false)))

  val encoder: Encoder[Row] = rowEncoder(schema)

  /** A Row encoder that takes java.sql.Timestamp or java.time.Instant alike (whatever
    * spark.sql.datetime.java8API.enabled says), so the operators do not depend on that setting. */
  def rowEncoder(schema: StructType): Encoder[Row] = ExpressionEncoder(schema, true)

  def apply(kind: Int, key: String, eventTimeMicros: Long, data: Array[Byte]): Row =
    Row(kind, key, DateTimeUtils.toJavaTimestamp(eventTimeMicros), data)

  def kind(row: Row): Int = row.getInt(0)
  def key(row: Row): String = row.getString(1)
  def eventTimeMicros(row: Row): Long = micros(row.get(2))
  def data(row: Row): Array[Byte] = row.getAs[Array[Byte]](3)

  def micros(value: Any): Long = value match {
    case t: java.sql.Timestamp => DateTimeUtils.fromJavaTimestamp(t)
    case i: java.time.Instant => DateTimeUtils.instantToMicros(i)
    case null => throw new IllegalArgumentException("a timestamp the hot path needs is null")
  }

  def microsOrNull(value: Any): java.lang.Long = if (value == null) null else micros(value)
}

/** A record's coordinates on its source topic: what reconciliation counts, and the key of its
  * outcome on the decision log (every outcome of one record lands in one partition, in order). */
final case class Source(topic: String, partition: Int, offset: Long, timestampMicros: Long, kafkaKey: String) {
  def id: String = s"$topic/$partition/$offset"

  def write(w: Codec.Writer): Codec.Writer =
    w.string(topic).int(partition).long(offset).long(timestampMicros).string(kafkaKey)
}

object Source {
  def read(r: Codec.Reader): Source = Source(r.string(), r.int(), r.long(), r.long(), r.string())
}

/** A record that is not decided: invalid, or a repeat of a payment already decided. */
final case class QuarantinedRecord(source: Source, endToEndId: String, reasons: Array[String], value: Array[Byte]) {
  def encode: Array[Byte] = source.write(new Codec.Writer()).string(endToEndId).strings(reasons).blob(value).result()
}

object QuarantinedRecord {
  def decode(bytes: Array[Byte]): QuarantinedRecord = {
    val r = new Codec.Reader(bytes, "a quarantined record")
    QuarantinedRecord(Source.read(r), r.string(), r.strings(), r.blob())
  }
}

/** The typed payment (the contract's fields plus the Brasília calendar) as an UnsafeRow's bytes:
  * read field by field where it is needed, and joined as is to the features the rules see. */
final class PaymentLayout(val schema: StructType) extends Serializable {
  private def at(name: String): Int = schema.fieldIndex(name)
  val endToEndId: Int = at("end_to_end_id")
  val eventTime: Int = at("event_time")
  val amount: Int = at("amount_brl")
  val payerDocument: Int = at("payer_document")
  val payerDevice: Int = at("payer_device_id")
  val payeeDocument: Int = at("payee_document")
  val payeeKey: Int = at("payee_key")
  private val amountType = schema(amount).dataType.asInstanceOf[org.apache.spark.sql.types.DecimalType]
  private val accounts = Seq("ispb", "branch", "account")
  val payerAccount: Seq[Int] = accounts.map(p => at(s"payer_$p"))
  val payeeAccount: Seq[Int] = accounts.map(p => at(s"payee_$p"))

  def row(bytes: Array[Byte]): UnsafeRow = {
    val r = new UnsafeRow(schema.length)
    r.pointTo(bytes, bytes.length)
    r
  }

  def string(r: UnsafeRow, ordinal: Int): String = if (r.isNullAt(ordinal)) null else r.getUTF8String(ordinal).toString
  def eventTimeMicros(r: UnsafeRow): Long = r.getLong(eventTime)
  def amountValue(r: UnsafeRow): Double = r.getDecimal(amount, amountType.precision, amountType.scale).toDouble

  /** How dict_marks names an account: ISPB:branch:account (null parts left out, as concat_ws does). */
  def account(r: UnsafeRow, parts: Seq[Int]): String = parts.flatMap(p => Option(string(r, p))).mkString(":")
}
