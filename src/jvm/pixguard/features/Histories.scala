package pixguard.features

import scala.collection.mutable.ArrayBuffer

import pixguard.hotpath.Codec

/** Point-in-time behavioural features over a compact per-key history.
  *
  * A transaction's features describe history strictly before it: `featuresFor` reads the history,
  * then `record` adds the transaction. The processors feed a key's rows in event-time order, so the
  * earlier transactions of the same micro-batch count too. A payment can also reach a later
  * micro-batch than a newer payment of the same payer (two accounts on two Kafka partitions, one
  * lagging): its features leave out what the history recorded after its event time. One history is
  * one state value per key (arrays in event-time order, pruned by age and capped), read once and
  * written once per key and micro-batch. */
object Windows {
  val MinuteMs: Long = 60000L
  val HourMs: Long = 60 * MinuteMs
  val DayMs: Long = 24 * HourMs

  val Payer: Seq[(String, Long)] = Seq("10m" -> 10 * MinuteMs, "1h" -> HourMs, "24h" -> DayMs, "7d" -> 7 * DayMs)
  val Payee: Seq[(String, Long)] = Seq("10m" -> 10 * MinuteMs, "1h" -> HourMs)
  // How far behind the payer's newest payment an end_to_end_id is still held. A payment is valid up
  // to a day old (validation.max_event_age_s) and the newest may lie max_clock_skew_s ahead of the
  // clock: the horizon covers both (pixguard.config checks that their sum fits).
  val DuplicateHorizonMs: Long = DayMs + HourMs

  val MaxRecentEvents = 2000
  val MaxKnownPayees = 500
  val MaxKnownDevices = 20

  /** Python's round(x, digits): exact binary value, ties to even. */
  def round(value: Double, digits: Int): Double =
    new java.math.BigDecimal(value).setScale(digits, java.math.RoundingMode.HALF_EVEN).doubleValue

  def keepLast(indexes: IndexedSeq[Int], limit: Int): IndexedSeq[Int] =
    if (indexes.length > limit) indexes.takeRight(limit) else indexes

  /** Where an event at `tsMs` goes to keep `times` in event-time order: after every event at or before it. */
  def insertionPoint(times: ArrayBuffer[Long], tsMs: Long): Int = {
    var at = times.length
    while (at > 0 && times(at - 1) > tsMs) at -= 1 // from the end: late events are rare and recent
    at
  }

  /** Positions of the recorded events in [tsMs - width, tsMs]: the window before a payment. A history
    * holds only payments recorded before this one, and a key's rows are recorded in (event time,
    * end_to_end_id) order, so an event at the same millisecond is an earlier payment: it counts in
    * every window, as in the payment counts, the mean and the time since the previous one. */
  def within(times: ArrayBuffer[Long], tsMs: Long, width: Long): IndexedSeq[Int] =
    times.indices.filter(i => times(i) >= tsMs - width && times(i) <= tsMs)

  def keepOnly[T](buffer: ArrayBuffer[T], indexes: IndexedSeq[Int]): Unit = {
    val kept = indexes.map(buffer)
    buffer.clear()
    buffer ++= kept
  }
}

object PayerHistory {
  val FeatureNames: Seq[String] =
    Windows.Payer.map { case (w, _) => s"payer_tx_count_$w" } ++
      Windows.Payer.map { case (w, _) => s"payer_amount_sum_$w" } ++
      Seq(
        "payer_distinct_payees_24h",
        "payer_history_tx_count",
        "payer_amount_ratio_to_mean",
        "payer_amount_zscore",
        "payer_first_payment_to_payee",
        "payer_new_device",
        "payer_seconds_since_previous_tx")

  /** A history stored by `encode` (one binary state value: see pixguard.hotpath.Codec). */
  def decode(bytes: Array[Byte]): PayerHistory = {
    val in = new Codec.Reader(bytes, "a payer's history")
    val h = new PayerHistory
    h.recentTs ++= in.longs()
    h.recentAmount ++= in.doubles()
    h.recentPayee ++= in.strings()
    h.knownPayees ++= in.strings()
    h.knownPayeeSince ++= in.longs()
    h.knownDevices ++= in.strings()
    h.knownDeviceSince ++= in.longs()
    h.seenSince = in.optLong()
    h.txCount = in.long()
    h.amountSum = in.double()
    h.amountSumSq = in.double()
    h.lastTs = in.optLong()
    h.prunedLastTs = in.optLong()
    h
  }
}

final class PayerHistory {
  import Windows._

  val recentTs = ArrayBuffer.empty[Long]
  val recentAmount = ArrayBuffer.empty[Double]
  val recentPayee = ArrayBuffer.empty[String]
  val knownPayees = ArrayBuffer.empty[String]
  val knownPayeeSince = ArrayBuffer.empty[Long] // the first payment to each known payee
  val knownDevices = ArrayBuffer.empty[String]
  val knownDeviceSince = ArrayBuffer.empty[Long]
  // The event time of the oldest end_to_end_id the processor still holds for duplicate detection
  // (the ids themselves live in a map state of their own, see PayerFeatures).
  var seenSince: Option[Long] = None
  var txCount: Long = 0L
  var amountSum: Double = 0.0
  var amountSumSq: Double = 0.0
  var lastTs: Option[Long] = None
  var prunedLastTs: Option[Long] = None // the newest payment no longer in the recent arrays

  /** Values in the order of PayerHistory.FeatureNames; null where a feature is undefined. */
  def featuresFor(tsMs: Long, amount: Double, payee: String, device: String): Seq[Any] = {
    val windows = Payer.map { case (_, width) => within(recentTs, tsMs, width) }
    val counts: Seq[Any] = windows.map(w => w.length.toLong)
    val sums: Seq[Any] = windows.map(w => round(w.map(recentAmount).sum, 2))
    val distinctPayees24h = windows(Payer.indexWhere(_._2 == DayMs)).map(recentPayee).distinct.length.toLong
    // Payments recorded with a later event time (this one reached a later micro-batch) are not its past.
    val before = insertionPoint(recentTs, tsMs)
    val later = before until recentTs.length
    val count = txCount - later.length
    val amountSumBefore = amountSum - later.map(recentAmount).sum
    val amountSumSqBefore = amountSumSq - later.map(i => recentAmount(i) * recentAmount(i)).sum
    val mean: Option[Double] = if (count > 0) Some(amountSumBefore / count) else None
    val variance = mean.map(m => amountSumSqBefore / count - m * m)
    val ratio = mean.filter(_ != 0.0).map(m => round(amount / m, 4))
    val zscore = for { m <- mean; v <- variance if v > 1e-9 } yield round((amount - m) / math.sqrt(v), 4)
    val firstToPayee = if (knownBefore(knownPayees, knownPayeeSince, payee, tsMs)) 0L else 1L
    val newDevice = if (count > 0 && !knownBefore(knownDevices, knownDeviceSince, device, tsMs)) 1L else 0L
    val previous = if (before > 0) Some(recentTs(before - 1)) else prunedLastTs.filter(_ <= tsMs)
    val sincePrevious = previous.map(last => round((tsMs - last) / 1000.0, 3))
    counts ++ sums ++ Seq[Any](
      distinctPayees24h,
      count,
      ratio.getOrElse(null),
      zscore.getOrElse(null),
      firstToPayee,
      newDevice,
      sincePrevious.getOrElse(null))
  }

  private def knownBefore(known: ArrayBuffer[String], since: ArrayBuffer[Long], value: String, tsMs: Long): Boolean = {
    val at = known.indexOf(value)
    at >= 0 && since(at) <= tsMs
  }

  def record(tsMs: Long, amount: Double, payee: String, device: String): Unit = {
    val at = insertionPoint(recentTs, tsMs)
    recentTs.insert(at, tsMs)
    recentAmount.insert(at, amount)
    recentPayee.insert(at, payee)
    // Most recently paid last, so the cap forgets the payees paid longest ago.
    val payeeAt = knownPayees.indexOf(payee)
    val payeeSince = if (payeeAt < 0) tsMs else math.min(knownPayeeSince(payeeAt), tsMs)
    if (payeeAt >= 0) {
      knownPayees.remove(payeeAt)
      knownPayeeSince.remove(payeeAt)
    }
    knownPayees += payee
    knownPayeeSince += payeeSince
    val deviceAt = knownDevices.indexOf(device)
    if (deviceAt < 0) {
      knownDevices += device
      knownDeviceSince += tsMs
    } else knownDeviceSince(deviceAt) = math.min(knownDeviceSince(deviceAt), tsMs)
    txCount += 1
    amountSum += amount
    amountSumSq += amount * amount
    lastTs = Some(lastTs.fold(tsMs)(math.max(_, tsMs)))
  }

  /** Forget what no window can reach any more, and cap what a very active key keeps. */
  def prune(nowMs: Long): Unit = {
    val keep = keepLast(recentTs.indices.filter(i => recentTs(i) >= nowMs - Payer.last._2), MaxRecentEvents)
    // In event-time order, what the age and the cap drop is older than what they keep.
    val dropped = recentTs.length - keep.length
    if (dropped > 0) prunedLastTs = Some(recentTs(dropped - 1))
    keepOnly(recentTs, keep)
    keepOnly(recentAmount, keep)
    keepOnly(recentPayee, keep)
    for ((known, since, cap) <- Seq((knownPayees, knownPayeeSince, MaxKnownPayees), (knownDevices, knownDeviceSince, MaxKnownDevices))
         if known.length > cap) {
      known.remove(0, known.length - cap)
      since.remove(0, since.length - cap)
    }
  }

  def latestMs: Option[Long] = lastTs

  def encode: Array[Byte] = new Codec.Writer()
    .longs(recentTs.toArray)
    .doubles(recentAmount.toArray)
    .strings(recentPayee.toArray)
    .strings(knownPayees.toArray)
    .longs(knownPayeeSince.toArray)
    .strings(knownDevices.toArray)
    .longs(knownDeviceSince.toArray)
    .optLong(seenSince)
    .long(txCount)
    .double(amountSum)
    .double(amountSumSq)
    .optLong(lastTs)
    .optLong(prunedLastTs)
    .result()
}

object PayeeHistory {
  val FeatureNames: Seq[String] =
    Windows.Payee.map { case (w, _) => s"payee_inbound_count_$w" } ++
      Seq("payee_inbound_amount_1h", "payee_distinct_payers_1h")

  def decode(bytes: Array[Byte]): PayeeHistory = {
    val in = new Codec.Reader(bytes, "a payee's history")
    val h = new PayeeHistory
    h.recentTs ++= in.longs()
    h.recentAmount ++= in.doubles()
    h.recentPayer ++= in.strings()
    h
  }
}

final class PayeeHistory {
  import Windows._

  val recentTs = ArrayBuffer.empty[Long]
  val recentAmount = ArrayBuffer.empty[Double]
  val recentPayer = ArrayBuffer.empty[String]

  /** Values in the order of PayeeHistory.FeatureNames. */
  def featuresFor(tsMs: Long): Seq[Any] = {
    val counts: Seq[Any] = Payee.map { case (_, width) => within(recentTs, tsMs, width).length.toLong }
    val hour = within(recentTs, tsMs, HourMs)
    counts ++ Seq[Any](round(hour.map(recentAmount).sum, 2), hour.map(recentPayer).distinct.length.toLong)
  }

  def record(tsMs: Long, amount: Double, payer: String): Unit = {
    recentTs += tsMs
    recentAmount += amount
    recentPayer += payer
  }

  def prune(nowMs: Long): Unit = {
    val keep = keepLast(recentTs.indices.filter(i => recentTs(i) >= nowMs - HourMs), MaxRecentEvents)
    keepOnly(recentTs, keep)
    keepOnly(recentAmount, keep)
    keepOnly(recentPayer, keep)
  }

  def latestMs: Option[Long] = recentTs.maxOption

  def isEmpty: Boolean = recentTs.isEmpty

  def encode: Array[Byte] =
    new Codec.Writer().longs(recentTs.toArray).doubles(recentAmount.toArray).strings(recentPayer.toArray).result()
}
