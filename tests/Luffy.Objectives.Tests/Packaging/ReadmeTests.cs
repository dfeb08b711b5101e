namespace Luffy.Objectives.Tests.Packaging;

public class ReadmeTests
{
    private static string Snippet(string text, string start, string end)
    {
        int i = text.IndexOf(start, StringComparison.Ordinal);
        Assert.True(i >= 0, $"marker '{start}' not found");
        i += start.Length;
        int j = text.IndexOf(end, i, StringComparison.Ordinal);
        Assert.True(j >= 0, $"marker '{end}' not found");
        return text[i..j].Replace("\r\n", "\n", StringComparison.Ordinal);
    }

    [Fact]
    public void Readme_usage_snippet_is_the_compiled_quick_start_sample()
    {
        string program = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "samples", "Luffy.Objectives.QuickStart", "Program.cs"));
        string readme = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "README.md"));
        string compiled = Snippet(program, "// <snippet>\n", "// </snippet>");
        Assert.Contains("```csharp\n" + compiled + "```", readme.Replace("\r\n", "\n", StringComparison.Ordinal));
    }
}
