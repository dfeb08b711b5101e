using System.Runtime.InteropServices;

namespace Luffy.Trainer.Training;

/// <summary>
/// fsync of a folder, which makes the renames inside it durable across a power loss. .NET opens no handle on a folder,
/// so this calls the C library on Linux and macOS (open with O_RDONLY|O_DIRECTORY, fsync, close); elsewhere, and
/// where the call fails, it does nothing: the renames stay atomic, only their durability is at stake.
/// </summary>
internal static partial class DirectorySync
{
    private const int ReadOnly = 0, LinuxDirectory = 0x10000, MacDirectory = 0x100000;

    public static void Flush(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return;
        }
        int fd = Open(directory, ReadOnly | (OperatingSystem.IsLinux() ? LinuxDirectory : MacDirectory));
        if (fd < 0)
        {
            return;
        }
        _ = FileSync(fd);
        _ = Close(fd);
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FileSync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
