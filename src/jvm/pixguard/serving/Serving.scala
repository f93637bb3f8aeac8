package pixguard.serving

import java.nio.charset.StandardCharsets
import java.security.MessageDigest
import java.util.concurrent.ConcurrentHashMap

import scala.jdk.CollectionConverters._
import scala.util.control.NonFatal

import com.fasterxml.jackson.databind.ObjectMapper
import org.apache.hadoop.conf.Configuration
import org.apache.hadoop.fs.Path
import org.apache.spark.internal.Logging
import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.catalyst.expressions.Expression
import org.apache.spark.sql.types.{DataType, StructType}

/** A rule of conf/rules.yaml with its condition bound to the decision record. */
final case class CompiledRule(code: String, action: String, condition: Expression)

/** The rule set in force: the file's version (with its digest) and the compiled rules. */
final case class RuleProgram(version: String, rules: IndexedSeq[CompiledRule])

/** What the running hot path decides with, published by the driver and read by every executor: a
  * folder (`serving_dir`, a path or URI Hadoop reaches, beside the checkpoints) holding immutable
  * files named by their content and `current.json`, which names the rule program and the model in
  * force. The driver (pixguard/stream/serving.py) asks the registry for the champion and reads the
  * rules file, checks what it finds, and rewrites `current.json` (atomically: written beside, then
  * renamed) when either changes; each executor reads `current.json` at most every `refreshMs` and
  * loads what it names. A decision records the versions it was made with. */
object Serving extends Logging {
  private val Current = "current.json"
  private val mapper = new ObjectMapper()

  // ---------------------------------------------------------------- driver side (called from Python)

  /** Compile a rules file's rules (JSON: [{code, action, when}]) over the decision record's schema. */
  def compileRules(spark: SparkSession, schemaJson: String, version: String, rulesJson: String): Array[Byte] = {
    val schema = DataType.fromJson(schemaJson).asInstanceOf[StructType]
    val rules = mapper.readTree(rulesJson).elements().asScala.toIndexedSeq
    val codes = rules.map(_.get("code").asText)
    val conditions = SqlCompiler.compilePredicates(spark, schema, codes.map(c => s"rule $c"), rules.map(_.get("when").asText))
    val compiled = rules.zip(conditions).map { case (r, c) => CompiledRule(r.get("code").asText, r.get("action").asText, c) }
    SqlCompiler.serialize(RuleProgram(version, compiled))
  }

  /** Compile the model's input encodings (feature name -> Spark SQL giving a double). */
  def compileInputs(spark: SparkSession, schemaJson: String, names: java.util.List[String],
      sql: java.util.List[String]): Array[Byte] = {
    val schema = DataType.fromJson(schemaJson).asInstanceOf[StructType]
    val featureNames = names.asScala.toIndexedSeq
    val compiled = SqlCompiler.compile(spark, schema, featureNames.map(n => s"model input $n"), sql.asScala.toSeq)
    SqlCompiler.serialize(ModelInputs(featureNames, compiled.toIndexedSeq))
  }

  /** Parse a LightGBM model and check it scores exactly the inputs served; returns its feature names. */
  def checkModel(text: String, served: java.util.List[String]): Array[String] = {
    val servedFeatures = served.asScala.toSeq
    val model = LightGbmModel.parse(text)
    val missing = servedFeatures.filterNot(model.featureNames.contains)
    val unknown = model.featureNames.filterNot(servedFeatures.contains)
    if (missing.nonEmpty) throw new LightGbmModel.ModelFormatError(s"the model lacks served features: ${missing.mkString(", ")}")
    if (unknown.nonEmpty) throw new LightGbmModel.ModelFormatError(s"the model needs features the hot path does not serve: ${unknown.mkString(", ")}")
    model.featureNames.toArray
  }

  /** Write the program and model (null: none) and make them current; returns the pointer's text. */
  def publish(dir: String, rulesVersion: String, program: Array[Byte], modelVersion: String, modelText: String): String = {
    val conf = new Configuration()
    val root = new Path(dir)
    val fs = root.getFileSystem(conf)
    fs.mkdirs(root)
    val programFile = s"rules-${digest(program)}.bin"
    writeOnce(fs, new Path(root, programFile), program)
    val modelFile = Option(modelText).map { text =>
      val bytes = text.getBytes(StandardCharsets.UTF_8)
      val name = s"model-$modelVersion-${digest(bytes)}.txt"
      writeOnce(fs, new Path(root, name), bytes)
      name
    }
    val pointer = mapper.createObjectNode()
    pointer.put("rules_version", rulesVersion)
    pointer.put("rules", programFile)
    pointer.put("model_version", modelVersion)
    pointer.put("model", modelFile.orNull)
    val text = mapper.writeValueAsString(pointer)
    val partial = new Path(root, s"$Current.${java.util.UUID.randomUUID()}.partial")
    val out = fs.create(partial, false)
    try out.write(text.getBytes(StandardCharsets.UTF_8))
    finally out.close()
    // A rename replaces atomically on local disks and HDFS; object stores give no such thing, and a
    // reader that meets a missing or partial pointer keeps what it has and reads again next time.
    val target = new Path(root, Current)
    if (!fs.rename(partial, target)) {
      fs.delete(target, false)
      if (!fs.rename(partial, target)) throw new java.io.IOException(s"could not write $target")
    }
    text
  }

  /** The pointer in force (JSON), null when nothing was published there yet. */
  def currentPointer(dir: String): String = {
    val path = new Path(dir, Current)
    val fs = path.getFileSystem(new Configuration())
    if (!fs.exists(path)) null else new String(readAll(fs, path), StandardCharsets.UTF_8)
  }

  /** The rule program `current.json` names (what a restart keeps when the rules file is refused). */
  def publishedRules(dir: String): Array[Byte] = {
    val root = new Path(dir)
    val fs = root.getFileSystem(new Configuration())
    readAll(fs, new Path(root, mapper.readTree(currentPointer(dir)).get("rules").asText))
  }

  private def writeOnce(fs: org.apache.hadoop.fs.FileSystem, path: Path, bytes: Array[Byte]): Unit =
    if (!fs.exists(path)) {
      val partial = new Path(path.getParent, s"${path.getName}.${java.util.UUID.randomUUID()}.partial")
      val out = fs.create(partial, false)
      try out.write(bytes)
      finally out.close()
      if (!fs.rename(partial, path) && !fs.exists(path)) throw new java.io.IOException(s"could not write $path")
      fs.delete(partial, false)
    }

  private def readAll(fs: org.apache.hadoop.fs.FileSystem, path: Path): Array[Byte] = {
    val in = fs.open(path)
    try in.readAllBytes()
    finally in.close()
  }

  private def digest(bytes: Array[Byte]): String =
    MessageDigest.getInstance("SHA-256").digest(bytes).take(8).map("%02x".format(_)).mkString

  // ---------------------------------------------------------------- executor side

  /** What an executor decides with, read from `dir`: refreshed at most every `refreshMs`. */
  final class State(val rules: RuleProgram, val model: Option[ServedModel], val pointer: String)

  private final class Watched(val dir: String) {
    @volatile var state: State = _
    @volatile var checkedAtMs: Long = Long.MinValue
  }

  private val watched = new ConcurrentHashMap[String, Watched]()

  def state(dir: String, refreshMs: Long): State = {
    val w = watched.computeIfAbsent(dir, d => new Watched(d))
    val now = System.currentTimeMillis()
    if (w.state == null || now - w.checkedAtMs >= refreshMs) w.synchronized {
      if (w.state == null || now - w.checkedAtMs >= refreshMs) {
        refresh(w)
        w.checkedAtMs = now
      }
    }
    if (w.state == null) throw new IllegalStateException(s"nothing to decide with: $dir/$Current names no rules")
    w.state
  }

  private def refresh(w: Watched): Unit = {
    try {
      val root = new Path(w.dir)
      val fs = root.getFileSystem(new Configuration())
      val pointerPath = new Path(root, Current)
      if (!fs.exists(pointerPath)) return
      val text = new String(readAll(fs, pointerPath), StandardCharsets.UTF_8)
      if (w.state != null && w.state.pointer == text) return
      val pointer = mapper.readTree(text)
      val rules = SqlCompiler.deserialize[RuleProgram](readAll(fs, new Path(root, pointer.get("rules").asText)))
      val modelName = Option(pointer.get("model")).filterNot(_.isNull).map(_.asText)
      val model = modelName.map { name =>
        val version = pointer.get("model_version").asText
        ServedModel(version, LightGbmModel.parse(new String(readAll(fs, new Path(root, name)), StandardCharsets.UTF_8)))
      }
      val previous = Option(w.state).map(s => s"rules ${s.rules.version}, model ${s.model.map(_.version).orNull}")
      w.state = new State(rules, model, text)
      logInfo(s"now deciding with rules ${rules.version}, model ${model.map(_.version).orNull} (was ${previous.orNull})")
    } catch {
      // What is in force keeps deciding; the driver checked what it published, so this is storage.
      case NonFatal(e) => logError(s"cannot read what ${w.dir}/$Current names; keeping what is in force", e)
    }
  }
}

/** A model version in force: its registry version and its trees. */
final case class ServedModel(version: String, model: LightGbmModel)

/** The model's input features, each a Spark SQL expression over the decision record. */
final case class ModelInputs(names: IndexedSeq[String], expressions: IndexedSeq[Expression])
