namespace Luffy.Trainer.Training;

/// <summary>
/// An exclusive lock on a run folder (<c>trainer.lock</c>, held open without sharing): a second trainer writing into
/// the same folder stops at once instead of deleting or interleaving the first one's files. The operating system
/// releases it when the process ends, however it ends (a kill -9 leaves no stale lock).
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = "trainer.lock";
    private readonly FileStream stream;

    private RunLock(FileStream stream) => this.stream = stream;

    /// <summary>Takes the lock of <paramref name="runDirectory"/> (creating the folder).</summary>
    /// <exception cref="IOException">Another process holds the lock; the message says so and names the folder.</exception>
    public static RunLock Acquire(string runDirectory)
    {
        Directory.CreateDirectory(runDirectory);
        string path = Path.Combine(runDirectory, FileName);
        try
        {
            var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            stream.SetLength(0);
            using (var writer = new StreamWriter(stream, leaveOpen: true))
            {
                writer.Write($"{Environment.ProcessId}\n");
            }
            stream.Flush();
            return new RunLock(stream);
        }
        catch (IOException ex)
        {
            throw new RunLockedException(runDirectory, ex);
        }
    }

    /// <summary>Releases the lock.</summary>
    public void Dispose() => stream.Dispose();
}
