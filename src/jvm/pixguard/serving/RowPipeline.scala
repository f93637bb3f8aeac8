package pixguard.serving

import org.apache.spark.sql.DataFrame
import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.expressions.{
  Attribute,
  BindReferences,
  Expression,
  RuntimeReplaceable
}
import org.apache.spark.sql.catalyst.expressions.codegen.{GeneratePredicate, GenerateUnsafeProjection}
import org.apache.spark.sql.catalyst.plans.logical.{Filter, LocalRelation, LogicalPlan, Project, SubqueryAlias}
import org.apache.spark.sql.types.StructType

/** A chain of Spark SQL projections and filters (a DataFrame built with select, withColumn and where
  * over an empty frame of the input's schema), compiled once on the driver and run row by row in the
  * JVM by generated code that each executor thread builds once.
  *
  * Why not leave them in the streaming plan: a micro-batch plans, optimizes and generates the code of
  * its whole plan again, on the driver, every time. For the hot path's parsing and contract checks
  * (dozens of regular expressions, the CPF/CNPJ check digits) that was most of a short batch's driver
  * time (bench/RESULTS.md). The expressions and their meaning are Spark's all the same: the same text
  * gives the same values (tests/unit/test_validate.py runs the DataFrame itself). */
final case class RowPipeline(input: StructType, output: StructType, steps: IndexedSeq[RowPipeline.Step])

object RowPipeline {
  sealed trait Step extends Serializable
  final case class ProjectStep(expressions: Seq[Expression]) extends Step
  final case class FilterStep(condition: Expression) extends Step

  /** `df`'s plan as steps over its leaf (an empty local relation): its serialized form. */
  def compile(df: DataFrame): Array[Byte] = {
    def steps(plan: LogicalPlan): (StructType, Vector[Step]) = plan match {
      case Project(list, child) =>
        val (in, below) = steps(child)
        (in, below :+ ProjectStep(list.map(e => bind(e, child.output))))
      case Filter(condition, child) =>
        val (in, below) = steps(child)
        (in, below :+ FilterStep(bind(condition, child.output)))
      case SubqueryAlias(_, child) => steps(child)
      case relation: LocalRelation if relation.data.isEmpty => (relation.schema, Vector.empty)
      case other =>
        throw new IllegalArgumentException(s"a row pipeline holds projections and filters only, not ${other.nodeName}")
    }
    val (input, compiled) = steps(df.queryExecution.analyzed)
    SqlCompiler.serialize(RowPipeline(input, df.schema, compiled))
  }

  private def bind(e: Expression, over: Seq[Attribute]): Expression = {
    val replaced = e.transformUp { case r: RuntimeReplaceable => r.replacement }
    BindReferences.bindReference(replaced, over)
  }

  /** Runs a compiled pipeline; one per thread (generated projections keep a row buffer of their own). */
  final class Runner(pipeline: RowPipeline) {
    // Generated code always, whatever spark.sql.codegen.factoryMode says: a runner is built once per
    // thread, so the code generation is paid once and the rows run at compiled speed.
    private val compiled: IndexedSeq[InternalRow => InternalRow] = pipeline.steps.map {
      case ProjectStep(expressions) =>
        val projection = GenerateUnsafeProjection.generate(expressions, SubexpressionElimination)
        (row: InternalRow) => projection(row)
      case FilterStep(condition) =>
        val predicate = GeneratePredicate.generate(condition, SubexpressionElimination)
        predicate.initialize(0)
        (row: InternalRow) => if (row != null && predicate.eval(row)) row else null
    }

    /** The output row (valid until the next call), or null when a filter dropped it. */
    def apply(row: InternalRow): InternalRow = {
      var current = row
      var i = 0
      while (current != null && i < compiled.length) {
        current = compiled(i)(current)
        i += 1
      }
      current
    }
  }

  private val SubexpressionElimination = true

  private val runners = ThreadLocal.withInitial[java.util.HashMap[Integer, Runner]](() => new java.util.HashMap())

  /** This thread's runner of the pipeline serialized as `bytes` (built on its first use). */
  def runner(bytes: Array[Byte]): Runner = {
    val key = Integer.valueOf(java.util.Arrays.hashCode(bytes))
    val held = runners.get()
    var r = held.get(key)
    if (r == null) {
      if (held.size > 8) held.clear()
      r = new Runner(SqlCompiler.deserialize[RowPipeline](bytes))
      held.put(key, r)
    }
    r
  }

  /** An empty frame of `schemaJson`'s schema (a local relation), to build a pipeline's DataFrame on. */
  def emptyFrame(spark: org.apache.spark.sql.SparkSession, schemaJson: String): DataFrame =
    spark.createDataFrame(java.util.List.of[org.apache.spark.sql.Row](),
      org.apache.spark.sql.types.DataType.fromJson(schemaJson).asInstanceOf[StructType])

  def outputSchemaJson(bytes: Array[Byte]): String = SqlCompiler.deserialize[RowPipeline](bytes).output.json
}
