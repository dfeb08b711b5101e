namespace Luffy.Trainer.Training;

/// <summary>Replaces a folder with a freshly written one so that an interruption never leaves a half-written folder in its place.</summary>
public static class AtomicDirectory
{
    /// <summary>
    /// Moves <paramref name="written"/> to <paramref name="target"/>: the old target is first renamed to
    /// <c>target.old</c>, then deleted once the new one is in place. Every intermediate state is recognised by the next
    /// call: a <c>target.old</c> without a <c>target</c> (interrupted between the two renames) is the last complete
    /// folder and is put back before anything is deleted.
    /// </summary>
    public static void Replace(string written, string target)
    {
        string previous = target + ".old";
        Recover(target);
        if (Directory.Exists(previous))
        {
            Directory.Delete(previous, recursive: true);
        }
        if (Directory.Exists(target))
        {
            Directory.Move(target, previous);
        }
        Directory.Move(written, target);
        if (Directory.Exists(previous))
        {
            Directory.Delete(previous, recursive: true);
        }
    }

    /// <summary>Puts <c>target.old</c> back as <paramref name="target"/> when a replace was interrupted between its two renames.</summary>
    public static void Recover(string target)
    {
        string previous = target + ".old";
        if (!Directory.Exists(target) && Directory.Exists(previous))
        {
            Directory.Move(previous, target);
        }
    }
}
