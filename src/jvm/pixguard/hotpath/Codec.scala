package pixguard.hotpath

import java.io.{ByteArrayInputStream, ByteArrayOutputStream, DataInputStream, DataOutputStream}

/** The byte layout of what travels between the hot path's operators and sits in their state: a
  * version byte, then fields written in order. Spark encodes a binary column or state value with no
  * work of its own, where a struct of many fields costs a generated projection in every task of every
  * micro-batch (measured: most of a small batch's time, bench/RESULTS.md). */
object Codec {
  /** Bumped whenever a layout changes: state written by another layout is refused, not misread. */
  val Version: Byte = 1

  final class StateLayoutError(message: String) extends IllegalStateException(message)

  final class Writer {
    private val bytes = new ByteArrayOutputStream(128)
    private val out = new DataOutputStream(bytes)
    out.writeByte(Version)

    def int(v: Int): Writer = { out.writeInt(v); this }
    def long(v: Long): Writer = { out.writeLong(v); this }
    def double(v: Double): Writer = { out.writeDouble(v); this }
    def bool(v: Boolean): Writer = { out.writeBoolean(v); this }
    def string(v: String): Writer = {
      if (v == null) out.writeInt(-1)
      else {
        val b = v.getBytes(java.nio.charset.StandardCharsets.UTF_8)
        out.writeInt(b.length)
        out.write(b)
      }
      this
    }
    def blob(v: Array[Byte]): Writer = {
      if (v == null) out.writeInt(-1) else { out.writeInt(v.length); out.write(v) }
      this
    }
    def optLong(v: Option[Long]): Writer = { out.writeBoolean(v.isDefined); v.foreach(out.writeLong); this }
    def longs(v: Array[Long]): Writer = { out.writeInt(v.length); v.foreach(out.writeLong); this }
    def doubles(v: Array[Double]): Writer = { out.writeInt(v.length); v.foreach(out.writeDouble); this }
    def strings(v: Array[String]): Writer = { out.writeInt(v.length); v.foreach(string); this }
    /** A value of a feature: null, a long or a double. */
    def feature(v: Any): Writer = {
      v match {
        case null => out.writeByte(0)
        case l: Long => out.writeByte(1); out.writeLong(l)
        case d: Double => out.writeByte(2); out.writeDouble(d)
        case other => throw new IllegalArgumentException(s"not a feature value: $other")
      }
      this
    }
    def features(v: Seq[Any]): Writer = { out.writeInt(v.length); v.foreach(feature); this }
    def result(): Array[Byte] = { out.flush(); bytes.toByteArray }
  }

  final class Reader(data: Array[Byte], what: String) {
    private val in = new DataInputStream(new ByteArrayInputStream(data))
    private val version = in.readByte()
    if (version != Version) {
      throw new StateLayoutError(
        s"$what was written by layout version $version of build/pixguard-features.jar; this build reads " +
          s"version $Version. The checkpoint's state cannot be read by this version of the operators.")
    }

    def int(): Int = in.readInt()
    def long(): Long = in.readLong()
    def double(): Double = in.readDouble()
    def bool(): Boolean = in.readBoolean()
    def string(): String = {
      val n = in.readInt()
      if (n < 0) null
      else {
        val b = new Array[Byte](n)
        in.readFully(b)
        new String(b, java.nio.charset.StandardCharsets.UTF_8)
      }
    }
    def blob(): Array[Byte] = {
      val n = in.readInt()
      if (n < 0) null else { val b = new Array[Byte](n); in.readFully(b); b }
    }
    def optLong(): Option[Long] = if (in.readBoolean()) Some(in.readLong()) else None
    def longs(): Array[Long] = Array.fill(in.readInt())(in.readLong())
    def doubles(): Array[Double] = Array.fill(in.readInt())(in.readDouble())
    def strings(): Array[String] = Array.fill(in.readInt())(string())
    def feature(): Any = in.readByte() match {
      case 0 => null
      case 1 => in.readLong()
      case 2 => in.readDouble()
      case tag => throw new StateLayoutError(s"$what: unknown feature tag $tag")
    }
    def features(): IndexedSeq[Any] = IndexedSeq.fill(in.readInt())(feature())
  }
}
