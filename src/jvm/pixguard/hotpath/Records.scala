package pixguard.hotpath

/** The DICT questions a payment asks, one per value (the payee's key is asked with the payload). */
object Role {
  final val PayeeKey = 0
  final val PayeeDocument = 1
  final val PayeeAccount = 2
  final val PayerDocument = 3
  final val PayerAccount = 4
  val Payee: Set[Int] = Set(PayeeKey, PayeeDocument, PayeeAccount)
}

/** What DICT holds about one value: when it was first registered as a key, when first marked for fraud. */
final case class DictFacts(createdAtMs: Option[Long], markedAtMs: Option[Long]) {
  def merge(other: DictFacts): DictFacts = DictFacts(min(createdAtMs, other.createdAtMs), min(markedAtMs, other.markedAtMs))
  def isEmpty: Boolean = createdAtMs.isEmpty && markedAtMs.isEmpty
  def write(w: Codec.Writer): Codec.Writer = w.optLong(createdAtMs).optLong(markedAtMs)
  def encode: Array[Byte] = write(new Codec.Writer()).result()
  private def min(a: Option[Long], b: Option[Long]): Option[Long] = (a ++ b).minOption
}

object DictFacts {
  val None: DictFacts = DictFacts(scala.None, scala.None)
  def read(r: Codec.Reader): DictFacts = DictFacts(r.optLong(), r.optLong())
  def decode(bytes: Array[Byte]): DictFacts = read(new Codec.Reader(bytes, "a DICT entry"))
}

/** A payment on its way to its decision: the typed payment, its payer features, how many DICT
  * answers it waits for besides its key's, and its key's answer once the DICT operator has given it. */
final case class Payload(
    source: Source,
    payment: Array[Byte],
    endToEndId: String,
    payeeDocument: String,
    payerFeatures: IndexedSeq[Any],
    probes: Int,
    keyFacts: DictFacts) {
  def encode: Array[Byte] =
    keyFacts.write(source.write(new Codec.Writer()).blob(payment).string(endToEndId).string(payeeDocument)
      .features(payerFeatures).int(probes)).result()
}

object Payload {
  def decode(bytes: Array[Byte]): Payload = {
    val r = new Codec.Reader(bytes, "a payment on its way to its decision")
    Payload(Source.read(r), r.blob(), r.string(), r.string(), r.features(), r.int(), DictFacts.read(r))
  }
}

/** A DICT question (`role` of payment `endToEndId`), answered back to the operator keyed by `replyTo`. */
final case class Probe(endToEndId: String, role: Int, replyTo: String) {
  def encode: Array[Byte] = new Codec.Writer().string(endToEndId).int(role).string(replyTo).result()
}

object Probe {
  def decode(bytes: Array[Byte]): Probe = {
    val r = new Codec.Reader(bytes, "a DICT probe")
    Probe(r.string(), r.int(), r.string())
  }
}

final case class Fact(endToEndId: String, role: Int, facts: DictFacts) {
  def encode: Array[Byte] = facts.write(new Codec.Writer().string(endToEndId).int(role)).result()
}

object Fact {
  def decode(bytes: Array[Byte]): Fact = {
    val r = new Codec.Reader(bytes, "a DICT answer")
    Fact(r.string(), r.int(), DictFacts.read(r))
  }
}

/** A key's past payments, in event-time order, as a new query's initial state: its payments' times,
  * ids and amounts and one or two counterpart values (a payer's: payee and device; a payee's: payer).
  * Carried as bytes: Spark generates the initial state's deserializer for every key it seeds
  * (TransformWithStateExec.processInitialStateRows), which for rows holding an array of structs cost
  * minutes on a few hundred thousand keys, and for one binary value next to nothing. */
final case class SeedEvents(ts: Array[Long], ids: Array[String], amounts: Array[Double], first: Array[String], second: Array[String]) {
  def length: Int = ts.length
  def encode: Array[Byte] = new Codec.Writer().longs(ts).strings(ids).doubles(amounts).strings(first).strings(second).result()
}

object SeedEvents {
  def decode(bytes: Array[Byte]): SeedEvents = {
    val r = new Codec.Reader(bytes, "a seeded history")
    SeedEvents(r.longs(), r.strings(), r.doubles(), r.strings(), r.strings())
  }

  /** Rows of (event_time_ms, end_to_end_id, amount, first[, second]). */
  def of(events: Seq[org.apache.spark.sql.Row]): SeedEvents = {
    val second = events.map(e => if (e.length > 4) e.getString(4) else null).toArray
    SeedEvents(events.map(_.getLong(0)).toArray, events.map(_.getString(1)).toArray, events.map(_.getDouble(2)).toArray,
      events.map(_.getString(3)).toArray, second)
  }
}
