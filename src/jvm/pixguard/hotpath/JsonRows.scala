package pixguard.hotpath

import java.io.StringWriter
import java.time.{Instant, ZoneOffset}
import java.time.format.DateTimeFormatter

import com.fasterxml.jackson.core.{JsonFactory, JsonGenerator}
import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.util.ArrayData
import org.apache.spark.sql.types._

/** Rows of the decision record written as the JSON the Kafka topics carry: one field per column, as
  * `to_json` writes them and `from_json` with the same schema reads them back (the archive does). */
object JsonRows {
  private val factory = new JsonFactory()
  private val millis = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC)
  private val micros = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'").withZone(ZoneOffset.UTC)

  def timestamp(us: Long): String = {
    val instant = Instant.ofEpochSecond(Math.floorDiv(us, 1000000L), Math.floorMod(us, 1000000L) * 1000L)
    (if (us % 1000L == 0) millis else micros).format(instant)
  }

  /** `fields` of `row` (positions in `schema`), after the leading string fields `extra`. */
  def write(schema: StructType, row: InternalRow, fields: Seq[Int], extra: Seq[(String, String)] = Nil): String = {
    val out = new StringWriter(512)
    val gen = factory.createGenerator(out)
    gen.writeStartObject()
    extra.foreach { case (k, v) => gen.writeStringField(k, v) }
    fields.foreach { i =>
      val field = schema(i)
      gen.writeFieldName(field.name)
      value(gen, field.dataType, row, i)
    }
    gen.writeEndObject()
    gen.close()
    out.toString
  }

  private def value(gen: JsonGenerator, dataType: DataType, row: InternalRow, i: Int): Unit =
    if (row.isNullAt(i)) gen.writeNull()
    else dataType match {
      case StringType => gen.writeString(row.getUTF8String(i).toString)
      case IntegerType => gen.writeNumber(row.getInt(i))
      case LongType => gen.writeNumber(row.getLong(i))
      case DoubleType => gen.writeNumber(row.getDouble(i))
      case BooleanType => gen.writeBoolean(row.getBoolean(i))
      case d: DecimalType => gen.writeNumber(row.getDecimal(i, d.precision, d.scale).toJavaBigDecimal)
      case TimestampType => gen.writeString(timestamp(row.getLong(i)))
      case BinaryType => gen.writeString(java.util.Base64.getEncoder.encodeToString(row.getBinary(i)))
      case ArrayType(StringType, _) => strings(gen, row.getArray(i))
      case other => throw new IllegalArgumentException(s"no JSON form for ${other.simpleString}")
    }

  private def strings(gen: JsonGenerator, array: ArrayData): Unit = {
    gen.writeStartArray()
    var k = 0
    while (k < array.numElements()) {
      if (array.isNullAt(k)) gen.writeNull() else gen.writeString(array.getUTF8String(k).toString)
      k += 1
    }
    gen.writeEndArray()
  }
}
