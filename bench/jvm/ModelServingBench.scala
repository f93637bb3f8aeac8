// The model benchmark's JVM side (bench/model_serving.py compiles and runs it): one LightGBM model
// scored by pixguard's own evaluator and by lightgbm4j (LightGBM's C++ library over JNI), row by row
// as the hot path scores, on the same held-out rows. Prints one JSON line per engine.
import java.nio.{ByteBuffer, ByteOrder}
import java.nio.file.{Files, Paths}

import com.microsoft.ml.lightgbm.PredictionType
import io.github.metarank.lightgbm4j.LGBMBooster
import pixguard.serving.LightGbmModel

object ModelServingBench {
  private def doubles(path: String): Array[Double] = {
    val buffer = ByteBuffer.wrap(Files.readAllBytes(Paths.get(path))).order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer()
    val out = new Array[Double](buffer.remaining())
    buffer.get(out)
    out
  }

  /** Nanoseconds per row of `score` over every row, the best of `rounds` (the JIT warmed first). */
  private def perRowNs(rows: Array[Array[Double]], rounds: Int)(score: Array[Double] => Double): Double = {
    var sink = 0.0
    var best = Long.MaxValue
    for (_ <- 0 until rounds) {
      val start = System.nanoTime()
      var i = 0
      while (i < rows.length) { sink += score(rows(i)); i += 1 }
      best = math.min(best, System.nanoTime() - start)
    }
    if (sink == 42.4242) println(sink)
    best.toDouble / rows.length
  }

  private def report(engine: String, loadMs: Double, firstScoreMs: Double, ns: Double, scores: Array[Double], python: Array[Double]): Unit = {
    val maxDiff = scores.indices.map(i => math.abs(scores(i) - python(i))).max
    println(f"""{"engine": "$engine", "load_ms": $loadMs%.1f, "first_score_ms": $firstScoreMs%.2f, "per_row_us": ${ns / 1000}%.2f, "rows_per_s_one_core": ${1e9 / ns}%.0f, "max_abs_diff_vs_python": $maxDiff%.3e}""")
  }

  def main(args: Array[String]): Unit = {
    val Array(folder, numFeaturesText, roundsText) = args
    val numFeatures = numFeaturesText.toInt
    val rounds = roundsText.toInt
    val text = new String(Files.readAllBytes(Paths.get(folder, "model.txt")), "UTF-8")
    val rows = doubles(s"$folder/features.bin").grouped(numFeatures).toArray
    val python = doubles(s"$folder/python_scores.bin")

    var start = System.nanoTime()
    val own = LightGbmModel.parse(text)
    val ownLoad = (System.nanoTime() - start) / 1e6
    start = System.nanoTime()
    own.score(rows(0))
    val ownFirst = (System.nanoTime() - start) / 1e6
    perRowNs(rows, 3)(own.score) // warm-up
    report("pixguard LightGbmModel", ownLoad, ownFirst, perRowNs(rows, rounds)(own.score), rows.map(own.score), python)

    start = System.nanoTime()
    val native = LGBMBooster.loadModelFromString(text)
    val nativeLoad = (System.nanoTime() - start) / 1e6
    val normal = PredictionType.C_API_PREDICT_NORMAL
    start = System.nanoTime()
    native.predictForMatSingleRow(rows(0), normal)
    val nativeFirst = (System.nanoTime() - start) / 1e6
    val nativeScore = (r: Array[Double]) => native.predictForMatSingleRow(r, normal)
    perRowNs(rows, 3)(nativeScore)
    report("lightgbm4j", nativeLoad, nativeFirst, perRowNs(rows, rounds)(nativeScore), rows.map(nativeScore), python)
    native.close()
  }
}
