namespace Luffy.Objectives.Tests.Support;

internal static class RepositoryPaths
{
    /// <summary>The repository root: the folder above the test binaries that holds Luffy.Objectives.sln.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Luffy.Objectives.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"Luffy.Objectives.sln not found above {AppContext.BaseDirectory}");
    }
}
