using Luffy.Trainer.Training;

namespace Luffy.Trainer.Tests;

public sealed class AtomicDirectoryTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), "luffy-atomic-" + Guid.NewGuid().ToString("N"));

    public AtomicDirectoryTests() => Directory.CreateDirectory(folder);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string Written(string content)
    {
        string path = Path.Combine(folder, "tmp-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, "file"), content);
        return path;
    }

    private string Target => Path.Combine(folder, "export");

    [Fact]
    public void Replace_puts_the_new_folder_in_place_and_leaves_nothing_else()
    {
        AtomicDirectory.Replace(Written("one"), Target);
        AtomicDirectory.Replace(Written("two"), Target);
        Assert.Equal("two", File.ReadAllText(Path.Combine(Target, "file")));
        Assert.Equal([Target], Directory.GetDirectories(folder));
    }

    [Fact]
    public void A_replace_interrupted_between_its_renames_keeps_the_old_folder_as_the_complete_one()
    {
        AtomicDirectory.Replace(Written("one"), Target);
        Directory.Move(Target, Target + ".old"); // the first rename happened, the second did not
        string next = Written("two");
        AtomicDirectory.Recover(Target);
        Assert.Equal("one", File.ReadAllText(Path.Combine(Target, "file")));
        AtomicDirectory.Replace(next, Target);
        Assert.Equal("two", File.ReadAllText(Path.Combine(Target, "file")));
        Assert.False(Directory.Exists(Target + ".old"));
    }
}
