package pixguard.archive

import scala.collection.mutable.ArrayBuffer

import org.apache.spark.sql.{DataFrame, Encoders, Row}
import org.apache.spark.sql.streaming.{OutputMode, StatefulProcessor, TTLConfig, TimeMode, TimerValues, ValueState}
import org.apache.spark.sql.types.{BooleanType, StructField, StructType}

import pixguard.hotpath.{Codec, Envelope}

/** The offsets of one source partition that already have an archived outcome, as sorted disjoint
  * half-open ranges [start, end): a handful of numbers however many records, since offsets come in
  * order and a gap only lasts until the rest of its batch is archived. */
final class OffsetRanges private (private val bounds: ArrayBuffer[Long]) {
  def contains(offset: Long): Boolean = {
    val i = upper(offset) // the first start greater than offset
    i > 0 && offset < bounds((i - 1) * 2 + 1)
  }

  def add(offset: Long): Unit = if (!contains(offset)) {
    val i = upper(offset)
    val joinsLeft = i > 0 && bounds((i - 1) * 2 + 1) == offset
    val joinsRight = i < ranges && bounds(i * 2) == offset + 1
    (joinsLeft, joinsRight) match {
      case (true, true) => bounds.remove((i - 1) * 2 + 1, 2) // [a, offset) and [offset+1, b) become [a, b)
      case (true, false) => bounds((i - 1) * 2 + 1) = offset + 1
      case (false, true) => bounds(i * 2) = offset
      case (false, false) => bounds.insertAll(i * 2, Seq(offset, offset + 1))
    }
  }

  def ranges: Int = bounds.length / 2

  private def upper(offset: Long): Int = {
    var lo = 0
    var hi = ranges
    while (lo < hi) {
      val mid = (lo + hi) >>> 1
      if (bounds(mid * 2) <= offset) lo = mid + 1 else hi = mid
    }
    lo
  }

  def encode: Array[Byte] = new Codec.Writer().longs(bounds.toArray).result()
}

object OffsetRanges {
  def empty: OffsetRanges = new OffsetRanges(ArrayBuffer.empty)
  def decode(bytes: Array[Byte]): OffsetRanges =
    new OffsetRanges(ArrayBuffer.from(new Codec.Reader(bytes, "the archived offsets of a source partition").longs()))
}

/** Keyed by source partition ("topic/partition"): marks every outcome after the first one published
  * for the same source record as a repeat. The hot path's Kafka sink is at-least-once: a micro-batch
  * replayed after a crash publishes its outcomes again, on the same decision-log partition (they are
  * keyed by the source record), so the order they were published in says which came first. */
class FirstOutcomeOperator(sourceOffsetColumn: String, logPartitionColumn: String, logOffsetColumn: String)
    extends StatefulProcessor[String, Row, Row] {

  @transient private var archived: ValueState[Array[Byte]] = _

  override def init(outputMode: OutputMode, timeMode: TimeMode): Unit =
    archived = getHandle.getValueState[Array[Byte]]("archived_offsets", Encoders.BINARY, TTLConfig.NONE)

  override def handleInputRows(key: String, rows: Iterator[Row], timerValues: TimerValues): Iterator[Row] = {
    val ranges = Option(archived.get()).map(OffsetRanges.decode).getOrElse(OffsetRanges.empty)
    val batch = rows.toArray
    val first = batch.head
    val (source, partition, offset) =
      (first.fieldIndex(sourceOffsetColumn), first.fieldIndex(logPartitionColumn), first.fieldIndex(logOffsetColumn))
    val out = batch.sortBy(r => (r.getInt(partition), r.getLong(offset))).map { r =>
      val repeat = ranges.contains(r.getLong(source))
      ranges.add(r.getLong(source))
      Row.fromSeq(r.toSeq :+ repeat)
    }
    archived.update(ranges.encode)
    out.iterator
  }
}

object FirstOutcome {
  val IsRepeat = "is_repeat"

  /** `log` (rows of the decision log with the source record's partition key, its offset, and the
    * log record's own partition and offset) with `is_repeat` added. */
  def mark(log: DataFrame, sourceKeyColumn: String, sourceOffsetColumn: String, logPartitionColumn: String,
      logOffsetColumn: String): DataFrame = {
    pixguard.hotpath.HotPath.ensureStateStoreCoordinator(log)
    val keyAt = log.schema.fieldIndex(sourceKeyColumn)
    val out = StructType(log.schema.fields :+ StructField(IsRepeat, BooleanType, nullable = false))
    log
      .as[Row](Envelope.rowEncoder(log.schema))
      .groupByKey((r: Row) => r.getString(keyAt))(Encoders.STRING)
      .transformWithState(new FirstOutcomeOperator(sourceOffsetColumn, logPartitionColumn, logOffsetColumn),
        TimeMode.None(), OutputMode.Append())(Envelope.rowEncoder(out))
      .toDF()
  }
}
