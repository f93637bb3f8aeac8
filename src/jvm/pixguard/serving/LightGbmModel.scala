package pixguard.serving

import scala.collection.mutable

/** A LightGBM binary classifier read from LightGBM's own text model format (`Booster.model_to_string()`,
  * the file `save_model` writes), scored in the JVM: the same trees, the same double arithmetic and the
  * same missing-value routing as LightGBM's C++ predictor, so a score equals the Python score of the
  * same booster (tests/unit/test_jvm_model.py holds scores to 1e-6 and contributions to 1e-9; bench/model_serving.py
  * measured a difference of at most 1e-16).
  *
  * `contributions` is LightGBM's `pred_contrib` (TreeSHAP, Lundberg et al. 2018, as in LightGBM's
  * tree.cpp): the features that pushed a score up the most are a decision's model reasons.
  *
  * Only what pixguard trains is accepted: one binary tree ensemble on numerical features. A model with
  * categorical splits, linear trees, several classes or another objective is refused when it is read,
  * with the reason, so the registry's champion is never scored by rules this code does not know. */
final class LightGbmModel private (
    val featureNames: IndexedSeq[String],
    trees: Array[LightGbmModel.Tree],
    sigmoid: Double) extends Serializable {

  def numFeatures: Int = featureNames.length

  def rawScore(features: Array[Double]): Double = {
    var sum = 0.0
    var i = 0
    while (i < trees.length) {
      sum += trees(i).predict(features)
      i += 1
    }
    sum
  }

  /** The probability of fraud, as LightGBM's `predict` gives it for the binary objective. */
  def score(features: Array[Double]): Double = 1.0 / (1.0 + math.exp(-sigmoid * rawScore(features)))

  /** Per-feature contributions to the raw score, in feature order, then the expected value (the bias). */
  def contributions(features: Array[Double]): Array[Double] = {
    val phi = new Array[Double](numFeatures + 1)
    trees.foreach(_.contribute(features, phi))
    phi
  }

  /** Up to `n` feature names, largest positive contribution first (ties: the lower feature index). */
  def topReasons(features: Array[Double], n: Int): Seq[String] = {
    val phi = contributions(features)
    (0 until numFeatures).filter(phi(_) > 0).sortBy(i => (-phi(i), i)).take(n).map(featureNames)
  }
}

object LightGbmModel {
  private val KZeroThreshold = 1e-35f.toDouble
  private val CategoricalMask = 1
  private val DefaultLeftMask = 2

  final class ModelFormatError(message: String) extends RuntimeException(message)

  /** One tree: internal nodes 0..n-2 (children >= 0 are nodes, ~child is a leaf), leaves 0..n-1. */
  final class Tree(
      splitFeature: Array[Int],
      threshold: Array[Double],
      decisionType: Array[Int],
      leftChild: Array[Int],
      rightChild: Array[Int],
      leafValue: Array[Double],
      leafCount: Array[Double],
      internalCount: Array[Double]) extends Serializable {

    private val numLeaves = leafValue.length
    private val maxDepth = if (numLeaves > 1) depth(0) else 0

    private def depth(node: Int): Int =
      if (node < 0) 0 else 1 + math.max(depth(leftChild(node)), depth(rightChild(node)))

    /** LightGBM's NumericalDecision: NaN counts as 0 unless the split learnt where NaN goes, and a
      * missing value (zero or NaN, as the split's missing type says) takes the default side. */
    private def next(value: Double, node: Int): Int = {
      val kind = decisionType(node)
      val missingType = (kind >> 2) & 3
      val v = if (value.isNaN && missingType != 2) 0.0 else value
      if ((missingType == 1 && v >= -KZeroThreshold && v <= KZeroThreshold) || (missingType == 2 && v.isNaN)) {
        if ((kind & DefaultLeftMask) != 0) leftChild(node) else rightChild(node)
      } else if (v <= threshold(node)) leftChild(node)
      else rightChild(node)
    }

    def predict(features: Array[Double]): Double = {
      if (numLeaves == 1) return leafValue(0)
      var node = 0
      while (node >= 0) node = next(features(splitFeature(node)), node)
      leafValue(~node)
    }

    private def dataCount(node: Int): Double = if (node >= 0) internalCount(node) else leafCount(~node)

    private def expectedValue: Double =
      if (numLeaves == 1) leafValue(0)
      else (0 until numLeaves).map(i => leafCount(i) / internalCount(0) * leafValue(i)).sum

    def contribute(features: Array[Double], phi: Array[Double]): Unit = {
      phi(phi.length - 1) += expectedValue
      if (numLeaves > 1) {
        val path = Array.fill(maxDepth + 2)(new PathElement)
        shap(features, phi, 0, 0, path, 1.0, 1.0, -1)
      }
    }

    private def shap(
        features: Array[Double],
        phi: Array[Double],
        node: Int,
        parentDepth: Int,
        parentPath: Array[PathElement],
        zeroFraction: Double,
        oneFraction: Double,
        featureIndex: Int): Unit = {
      val path = parentPath.map(_.copy())
      var uniqueDepth = parentDepth
      extendPath(path, uniqueDepth, zeroFraction, oneFraction, featureIndex)
      if (node < 0) {
        var i = 1
        while (i <= uniqueDepth) {
          val w = unwoundPathSum(path, uniqueDepth, i)
          val el = path(i)
          phi(el.featureIndex) += w * (el.oneFraction - el.zeroFraction) * leafValue(~node)
          i += 1
        }
      } else {
        val hot = next(features(splitFeature(node)), node)
        val cold = if (hot == leftChild(node)) rightChild(node) else leftChild(node)
        val w = dataCount(node)
        val hotZero = dataCount(hot) / w
        val coldZero = dataCount(cold) / w
        var incomingZero = 1.0
        var incomingOne = 1.0
        var at = 0
        while (at <= uniqueDepth && path(at).featureIndex != splitFeature(node)) at += 1
        if (at != uniqueDepth + 1) { // this feature split before on the path: undo it, redo it here
          incomingZero = path(at).zeroFraction
          incomingOne = path(at).oneFraction
          unwindPath(path, uniqueDepth, at)
          uniqueDepth -= 1
        }
        shap(features, phi, hot, uniqueDepth + 1, path, hotZero * incomingZero, incomingOne, splitFeature(node))
        shap(features, phi, cold, uniqueDepth + 1, path, coldZero * incomingZero, 0.0, splitFeature(node))
      }
    }
  }

  final class PathElement(
      var featureIndex: Int = -1,
      var zeroFraction: Double = 0.0,
      var oneFraction: Double = 0.0,
      var pweight: Double = 0.0) extends Serializable {
    def copy(): PathElement = new PathElement(featureIndex, zeroFraction, oneFraction, pweight)
  }

  private def extendPath(path: Array[PathElement], depth: Int, zero: Double, one: Double, feature: Int): Unit = {
    path(depth).featureIndex = feature
    path(depth).zeroFraction = zero
    path(depth).oneFraction = one
    path(depth).pweight = if (depth == 0) 1.0 else 0.0
    var i = depth - 1
    while (i >= 0) {
      path(i + 1).pweight += one * path(i).pweight * (i + 1) / (depth + 1).toDouble
      path(i).pweight = zero * path(i).pweight * (depth - i) / (depth + 1).toDouble
      i -= 1
    }
  }

  private def unwindPath(path: Array[PathElement], depth: Int, pathIndex: Int): Unit = {
    val one = path(pathIndex).oneFraction
    val zero = path(pathIndex).zeroFraction
    var nextOnePortion = path(depth).pweight
    var i = depth - 1
    while (i >= 0) {
      if (one != 0) {
        val tmp = path(i).pweight
        path(i).pweight = nextOnePortion * (depth + 1) / ((i + 1) * one)
        nextOnePortion = tmp - path(i).pweight * zero * (depth - i) / (depth + 1).toDouble
      } else {
        path(i).pweight = (path(i).pweight * (depth + 1)) / (zero * (depth - i))
      }
      i -= 1
    }
    i = pathIndex
    while (i < depth) {
      path(i).featureIndex = path(i + 1).featureIndex
      path(i).zeroFraction = path(i + 1).zeroFraction
      path(i).oneFraction = path(i + 1).oneFraction
      i += 1
    }
  }

  private def unwoundPathSum(path: Array[PathElement], depth: Int, pathIndex: Int): Double = {
    val one = path(pathIndex).oneFraction
    val zero = path(pathIndex).zeroFraction
    var nextOnePortion = path(depth).pweight
    var total = 0.0
    var i = depth - 1
    while (i >= 0) {
      if (one != 0) {
        val tmp = nextOnePortion * (depth + 1) / ((i + 1) * one)
        total += tmp
        nextOnePortion = path(i).pweight - tmp * zero * ((depth - i) / (depth + 1).toDouble)
      } else if (zero != 0) {
        total += (path(i).pweight / zero) / ((depth - i) / (depth + 1).toDouble)
      }
      i -= 1
    }
    total
  }

  /** Reads `model_to_string()` text; a model this scorer cannot reproduce exactly is refused. */
  def parse(text: String): LightGbmModel = {
    val lines = text.split("\n").iterator.map(_.trim).buffered
    val header = mutable.LinkedHashMap.empty[String, String]
    while (lines.hasNext && !lines.head.startsWith("Tree=")) {
      val line = lines.next()
      if (line == "end of trees") throw new ModelFormatError("the model has no trees")
      keyValue(line).foreach(kv => header += kv)
    }
    def required(key: String): String =
      header.getOrElse(key, throw new ModelFormatError(s"the model text has no '$key' line: not a LightGBM model"))
    if (required("num_class") != "1") throw new ModelFormatError(s"num_class=${header("num_class")}: only binary models are served")
    if (header.get("num_tree_per_iteration").exists(_ != "1")) throw new ModelFormatError("several trees per iteration: only binary models are served")
    if (header.contains("average_output")) throw new ModelFormatError("averaged output (random forest) is not served")
    val objective = required("objective").split("\\s+")
    if (objective.head != "binary") throw new ModelFormatError(s"objective ${objective.head}: only the binary objective is served")
    val sigmoid = objective.tail.collectFirst { case p if p.startsWith("sigmoid:") => p.stripPrefix("sigmoid:").toDouble }.getOrElse(1.0)
    val features = required("feature_names").split("\\s+").toIndexedSeq
    val trees = mutable.ArrayBuffer.empty[Tree]
    while (lines.hasNext && lines.head.startsWith("Tree=")) {
      val name = lines.next()
      val fields = mutable.HashMap.empty[String, String]
      while (lines.hasNext && lines.head.nonEmpty && !lines.head.startsWith("Tree=") && lines.head != "end of trees") {
        keyValue(lines.next()).foreach(kv => fields += kv)
      }
      while (lines.hasNext && lines.head.isEmpty) lines.next()
      trees += tree(name, fields.toMap, features.length)
    }
    if (trees.isEmpty) throw new ModelFormatError("the model has no trees")
    new LightGbmModel(features, trees.toArray, sigmoid)
  }

  /** A number as LightGBM prints it (C++ iostream: "inf", "-inf", "nan" for the special values). */
  private def number(text: String): Double = text match {
    case "inf" | "+inf" => Double.PositiveInfinity
    case "-inf" => Double.NegativeInfinity
    case "nan" | "-nan" => Double.NaN
    case other => other.toDouble
  }

  private def keyValue(line: String): Option[(String, String)] = {
    val at = line.indexOf('=')
    if (at <= 0) None else Some(line.substring(0, at) -> line.substring(at + 1))
  }

  private def tree(name: String, fields: Map[String, String], numFeatures: Int): Tree = {
    def get(key: String): String = fields.getOrElse(key, throw new ModelFormatError(s"$name has no '$key'"))
    def doubles(key: String): Array[Double] = get(key).split(" ").filter(_.nonEmpty).map(number)
    def ints(key: String): Array[Int] = get(key).split(" ").filter(_.nonEmpty).map(_.toInt)
    val numLeaves = get("num_leaves").toInt
    if (fields.get("num_cat").exists(_ != "0")) throw new ModelFormatError(s"$name has categorical splits, which are not served")
    if (fields.get("is_linear").exists(_ != "0")) throw new ModelFormatError(s"$name is a linear tree, which is not served")
    val leafValue = doubles("leaf_value")
    if (leafValue.length != numLeaves) throw new ModelFormatError(s"$name: ${leafValue.length} leaf values for $numLeaves leaves")
    if (numLeaves == 1) {
      new Tree(Array.empty, Array.empty, Array.empty, Array.empty, Array.empty, leafValue, Array(1.0), Array(1.0))
    } else {
      val decision = ints("decision_type")
      if (decision.exists(d => (d & CategoricalMask) != 0)) throw new ModelFormatError(s"$name has categorical splits, which are not served")
      val split = ints("split_feature")
      if (split.exists(f => f < 0 || f >= numFeatures)) throw new ModelFormatError(s"$name splits on a feature the model does not name")
      new Tree(split, doubles("threshold"), decision, ints("left_child"), ints("right_child"), leafValue,
        doubles("leaf_count"), doubles("internal_count"))
    }
  }
}

/** Scoring a whole matrix in one call, for the parity test and the model benchmark (py4j passes a
  * byte array in one piece, where an array of doubles would cost a round trip per element). */
object LightGbmMatrix {
  private def doubles(bytes: Array[Byte]): Array[Double] = {
    val buffer = java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN).asDoubleBuffer()
    val out = new Array[Double](buffer.remaining())
    buffer.get(out)
    out
  }

  private def rows(matrix: Array[Byte], numFeatures: Int): Iterator[Array[Double]] =
    doubles(matrix).grouped(numFeatures)

  /** Row-major float64 matrix (little-endian) -> the scores, as little-endian float64. */
  def scores(model: LightGbmModel, matrix: Array[Byte], numFeatures: Int): Array[Byte] = {
    val values = rows(matrix, numFeatures).map(model.score).toArray
    val out = java.nio.ByteBuffer.allocate(values.length * 8).order(java.nio.ByteOrder.LITTLE_ENDIAN)
    values.foreach(out.putDouble)
    out.array()
  }

  /** The contributions of each row (numFeatures + 1 values a row, the bias last), as float64. */
  def contributions(model: LightGbmModel, matrix: Array[Byte], numFeatures: Int): Array[Byte] = {
    val values = rows(matrix, numFeatures).flatMap(model.contributions(_)).toArray
    val out = java.nio.ByteBuffer.allocate(values.length * 8).order(java.nio.ByteOrder.LITTLE_ENDIAN)
    values.foreach(out.putDouble)
    out.array()
  }

  /** Each row's top reasons, comma-separated, one line a row. */
  def topReasons(model: LightGbmModel, matrix: Array[Byte], numFeatures: Int, n: Int): String =
    rows(matrix, numFeatures).map(model.topReasons(_, n).mkString(",")).mkString("\n")

  /** Nanoseconds to score every row `repeat` times (the benchmark's per-row figure). */
  def timeScores(model: LightGbmModel, matrix: Array[Byte], numFeatures: Int, repeat: Int): Long = {
    val data = rows(matrix, numFeatures).toArray
    var sink = 0.0
    val start = System.nanoTime()
    var k = 0
    while (k < repeat) { data.foreach(r => sink += model.score(r)); k += 1 }
    val took = System.nanoTime() - start
    if (sink == 42.4242) println(sink) // keeps the loop from being optimised away
    took
  }
}
