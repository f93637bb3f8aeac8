package pixguard.serving

import java.util.concurrent.ConcurrentHashMap

import scala.util.control.NonFatal

import org.apache.spark.internal.Logging
import org.apache.spark.sql.catalyst.InternalRow

/** The decision of one payment from its record: the rules in force, then the model in force.
  *
  * A BLOCK rule or a score at the block threshold blocks; any rule or a score at the review threshold
  * holds for review. Reasons: the rules that fired, then `MODEL:<feature>` for the features that pushed
  * a reviewed or blocked score up the most (TreeSHAP; only those scores are explained, a few percent).
  *
  * A rule that passed the driver's checks and still fails on a payment (an ANSI error only real values
  * reach) is disabled on this executor until the rules change, the other rules decide, and every
  * decision says so in its rules version (`<version>-without-<CODE>`), which the monitoring alerts on.
  *
  * Expressions are evaluated by one thread at a time: each task thread has its own copies (a lambda
  * variable of a higher-order function holds its value in the expression object). */
final case class Outcome(
    score: java.lang.Double,
    modelReasons: Array[String],
    ruleHits: Array[String],
    decision: String,
    reasons: Array[String],
    modelVersion: String,
    rulesVersion: String)

final class DecisionEngine(inputsBytes: Array[Byte], review: Double, block: Double, topReasons: Int)
    extends Serializable {

  private val inputsKey = java.util.Arrays.hashCode(inputsBytes)

  private def threadInputs: ModelInputs = DecisionEngine.copies.get().getOrElseUpdate(
    ("inputs", inputsKey.toString), SqlCompiler.deserialize[ModelInputs](inputsBytes)).asInstanceOf[ModelInputs]

  private def threadRules(state: Serving.State): RuleProgram = DecisionEngine.copies.get().getOrElseUpdate(
    ("rules", state.pointer), SqlCompiler.deserialize[RuleProgram](SqlCompiler.serialize(state.rules))).asInstanceOf[RuleProgram]

  def decide(state: Serving.State, record: InternalRow): Outcome = {
    val rules = threadRules(state)
    val disabled = DecisionEngine.disabledRules(rules.version)
    val hits = rules.rules.filter(r => !disabled.containsKey(r.code) && fires(r, record, disabled))
    val ruleAction =
      if (hits.exists(_.action == "BLOCK")) "BLOCK" else if (hits.nonEmpty) "REVIEW" else null
    val rulesVersion =
      if (disabled.isEmpty) rules.version
      else s"${rules.version}-without-${disabled.keySet().toArray.map(_.toString).sorted.mkString("+")}"
    val (score, modelReasons) = state.model match {
      case None => (null, null)
      case Some(served) =>
        val features = inputVector(served.model, record)
        val s = served.model.score(features)
        (java.lang.Double.valueOf(s), if (s >= review) served.model.topReasons(features, topReasons).toArray else null)
    }
    val decision =
      if (ruleAction == "BLOCK" || (score != null && score >= block)) "BLOCK"
      else if (ruleAction == "REVIEW" || (score != null && score >= review)) "REVIEW"
      else "APPROVE"
    val reasons = hits.map(_.code) ++ Option(modelReasons).toSeq.flatten.map("MODEL:" + _)
    Outcome(score, modelReasons, hits.map(_.code).toArray, decision, reasons.toArray,
      state.model.map(_.version).orNull, rulesVersion)
  }

  private def fires(rule: CompiledRule, record: InternalRow, disabled: ConcurrentHashMap[String, String]): Boolean =
    try rule.condition.eval(record) == true
    catch {
      case NonFatal(e) =>
        if (disabled.putIfAbsent(rule.code, SqlCompiler.firstLine(e)) == null) {
          DecisionEngine.logError(s"rule ${rule.code} failed on a payment and is disabled until the rules change: ${SqlCompiler.firstLine(e)}")
        }
        false
    }

  /** The model's features in the model's own order, a null as NaN (LightGBM's missing value). */
  private def inputVector(model: LightGbmModel, record: InternalRow): Array[Double] = {
    val inputs = threadInputs
    model.featureNames.map { name =>
      val at = inputs.names.indexOf(name)
      if (at < 0) throw new IllegalStateException(s"the model needs $name, which no model input computes")
      inputs.expressions(at).eval(record) match {
        case null => Double.NaN
        case n: java.lang.Number => n.doubleValue
        case other => throw new IllegalStateException(s"model input $name gave $other, not a number")
      }
    }.toArray
  }
}

object DecisionEngine extends Logging {
  /** Per task thread: expressions deserialized for it, by what they are (the last few kept). */
  private val copies = ThreadLocal.withInitial[ThreadCopies](() => new ThreadCopies)

  final class ThreadCopies {
    private val held = scala.collection.mutable.LinkedHashMap.empty[(String, String), AnyRef]
    def getOrElseUpdate(key: (String, String), make: => AnyRef): AnyRef = {
      if (!held.contains(key) && held.size > 8) held.clear() // old rule versions are not kept for ever
      held.getOrElseUpdate(key, make)
    }
  }

  private val disabled = new ConcurrentHashMap[String, ConcurrentHashMap[String, String]]()

  def disabledRules(version: String): ConcurrentHashMap[String, String] =
    disabled.computeIfAbsent(version, _ => new ConcurrentHashMap[String, String]())

  override def logError(msg: => String): Unit = super.logError(msg)
}
