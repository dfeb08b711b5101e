namespace Luffy.Trainer;

/// <summary>Checks, before any work starts, that the folders the trainer writes to can be written.</summary>
public static class OutputFolders
{
    /// <summary>Creates <paramref name="folder"/> if needed and writes and deletes a probe file in it.</summary>
    /// <exception cref="OptionException">The folder is a file, cannot be created, or cannot be written; the message names the option and the reason.</exception>
    public static void EnsureWritable(string folder, string option)
    {
        if (File.Exists(folder))
        {
            throw new OptionException(option, folder, "a folder, but a file of that name exists");
        }
        string probe = Path.Combine(folder, $".luffy-write-test-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(folder);
            File.WriteAllText(probe, "probe");
            File.Delete(probe);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new OptionException(option, folder, $"a folder this user can write ({ex.Message.TrimEnd('.')})");
        }
    }
}
