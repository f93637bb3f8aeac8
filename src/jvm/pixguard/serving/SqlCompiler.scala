package pixguard.serving

import java.io.{ByteArrayInputStream, ByteArrayOutputStream, ObjectInputStream, ObjectOutputStream, ObjectStreamClass}

import scala.util.control.NonFatal

import org.apache.spark.sql.{Row, SparkSession}
import org.apache.spark.sql.catalyst.expressions.{
  Alias,
  AttributeReference,
  BindReferences,
  Expression,
  GenericInternalRow,
  Literal,
  Nondeterministic,
  RuntimeReplaceable,
  UserDefinedExpression
}
import org.apache.spark.sql.catalyst.expressions.aggregate.AggregateExpression
import org.apache.spark.sql.catalyst.plans.logical.Project
import org.apache.spark.sql.functions.expr
import org.apache.spark.sql.types.{BooleanType, DataType, NumericType, StructType}

/** Spark SQL expressions (the rules of conf/rules.yaml, the model's input encodings) compiled on the
  * driver, where Spark's analyzer resolves names, functions and types against the decision record's
  * schema, and shipped to the executors as bound expressions that evaluate on a row by position.
  * The running hot path takes a new rule set this way without a new plan, so without a restart.
  *
  * An expression that is not row-wise (an aggregate, a window, a generator), not deterministic, or a
  * user-defined function (Python or JVM) is refused, as is one that fails on a row of zeros and nulls
  * (Spark's ANSI mode fails a division by zero at run time: e.g. a ratio to a new payer's sum). */
object SqlCompiler {

  final class CompileError(val name: String, message: String) extends RuntimeException(s"$name: $message")

  /** `sql` analysed over `schema`, bound to its positions; the error names the expression (`names`). */
  def compile(spark: SparkSession, schema: StructType, names: Seq[String], sql: Seq[String]): Seq[Expression] = {
    val relation = spark.createDataFrame(java.util.List.of[Row](), schema)
    names.zip(sql).map { case (name, text) =>
      val analyzed =
        try relation.select(expr(text).as("value")).queryExecution.analyzed
        catch { case NonFatal(e) => throw new CompileError(name, s"does not compile: ${firstLine(e)}") }
      val bound = analyzed match {
        case Project(Seq(Alias(child, _)), source) => BindReferences.bindReference(replaceAtRuntime(child), source.output)
        case _ => throw new CompileError(name, "is not a row-wise expression (an aggregate, a window or a generator)")
      }
      refuseWhatDoesNotServe(name, bound)
      bound
    }
  }

  /** Compiled and checked to be a boolean that runs on a row of zeros and nulls. */
  def compilePredicates(spark: SparkSession, schema: StructType, names: Seq[String], sql: Seq[String]): Seq[Expression] = {
    val compiled = compile(spark, schema, names, sql)
    names.zip(compiled).foreach { case (name, e) =>
      if (e.dataType != BooleanType) throw new CompileError(name, s"condition is ${e.dataType.simpleString}, not boolean")
      try e.eval(zeros(schema))
      catch { case NonFatal(error) => throw new CompileError(name, s"fails on a row of zeros and nulls: ${firstLine(error)}") }
    }
    compiled
  }

  /** RuntimeReplaceable expressions (try_divide, nvl, ...) are swapped for what they stand for by the
    * optimizer; the hot path evaluates without one, so it swaps them here. */
  private def replaceAtRuntime(e: Expression): Expression = e.transformUp { case r: RuntimeReplaceable => replaceAtRuntime(r.replacement) }

  private def refuseWhatDoesNotServe(name: String, e: Expression): Unit = e.foreach {
    case _: AggregateExpression => throw new CompileError(name, "uses an aggregate, which has no value for one payment")
    case _: Nondeterministic => throw new CompileError(name, "is not deterministic: a replayed payment could be decided otherwise")
    case u: UserDefinedExpression => throw new CompileError(name, s"calls the user-defined function ${u.name}, which the JVM hot path cannot run")
    case _: AttributeReference => throw new CompileError(name, "refers to a column outside the decision record")
    case _ =>
  }

  def zeros(schema: StructType): GenericInternalRow = new GenericInternalRow(schema.fields.map { f =>
    f.dataType match {
      case n: NumericType => Literal.default(n).value
      case _ => null
    }
  }.toArray[Any])

  def firstLine(e: Throwable): String = String.valueOf(e.getMessage).trim.linesIterator.nextOption().getOrElse(e.toString)

  def serialize(value: AnyRef): Array[Byte] = {
    val bytes = new ByteArrayOutputStream()
    val out = new ObjectOutputStream(bytes)
    out.writeObject(value)
    out.close()
    bytes.toByteArray
  }

  /** Read back on an executor with the classes this jar and Spark's carry (the thread's class loader). */
  def deserialize[T](bytes: Array[Byte]): T = {
    val loader = Option(Thread.currentThread.getContextClassLoader).getOrElse(getClass.getClassLoader)
    val in = new ObjectInputStream(new ByteArrayInputStream(bytes)) {
      override def resolveClass(desc: ObjectStreamClass): Class[_] =
        try Class.forName(desc.getName, false, loader)
        catch { case _: ClassNotFoundException => super.resolveClass(desc) }
    }
    try in.readObject().asInstanceOf[T]
    finally in.close()
  }

  def dataTypeOf(json: String): DataType = DataType.fromJson(json)
}
