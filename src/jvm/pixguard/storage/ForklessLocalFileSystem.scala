package pixguard.storage

import java.nio.file.Files
import java.nio.file.attribute.PosixFilePermission

import org.apache.hadoop.fs.{LocalFileSystem, Path, RawLocalFileSystem}
import org.apache.hadoop.fs.permission.{FsAction, FsPermission}

/** Hadoop's `file:` file system, with permissions set by java.nio instead of a forked `chmod`.
  *
  * Without Hadoop's native library (not on Maven Central, so not here), RawLocalFileSystem runs
  * `chmod` in a child process for every file it creates: each state store changelog, offset and
  * commit log entry, Delta and Parquet file. On the hot path that was several forks of a multi-GB
  * JVM per micro-batch (bench/RESULTS.md). Set as `spark.hadoop.fs.file.impl` by the local target. */
class ForklessLocalFileSystem extends LocalFileSystem(new ForklessRawLocalFileSystem)

class ForklessRawLocalFileSystem extends RawLocalFileSystem {
  override def setPermission(p: Path, permission: FsPermission): Unit =
    Files.setPosixFilePermissions(pathToFile(p).toPath, ForklessRawLocalFileSystem.posix(permission))
}

object ForklessRawLocalFileSystem {
  private val classes = Seq(
    (PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE),
    (PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE),
    (PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE))

  /** The read, write and execute bits of `permission` (a sticky bit has no java.nio form and is left out). */
  def posix(permission: FsPermission): java.util.Set[PosixFilePermission] = {
    val set = java.util.EnumSet.noneOf(classOf[PosixFilePermission])
    Seq(permission.getUserAction, permission.getGroupAction, permission.getOtherAction).zip(classes).foreach {
      case (action, (read, write, execute)) =>
        if (action.implies(FsAction.READ)) set.add(read)
        if (action.implies(FsAction.WRITE)) set.add(write)
        if (action.implies(FsAction.EXECUTE)) set.add(execute)
    }
    set
  }
}
