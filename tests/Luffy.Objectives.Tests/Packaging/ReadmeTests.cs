namespace Luffy.Objectives.Tests.Packaging;

[Collection(nameof(PackageTests))]
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

    [Fact]
    public void Package_readme_example_is_the_compiled_package_example()
    {
        string program = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "samples", "Luffy.Objectives.PackageExample", "Program.cs"));
        string readme = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "src", "Luffy.Objectives", "PACKAGE.md"));
        string compiled = Snippet(program, "// <snippet>\n", "// </snippet>");
        Assert.Contains("```csharp\n" + compiled + "```", readme.Replace("\r\n", "\n", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Luffy.Objectives.QuickStart", "README.md", "loss ")]
    [InlineData("Luffy.Objectives.PackageExample", "src/Luffy.Objectives/PACKAGE.md", "loss ")]
    public void Readme_examples_run_and_print_what_their_readme_says(string sample, string readme, string prefix)
    {
        (int exit, string output) = ProcessRunner.Run("dotnet", $"run --project samples/{sample} --nologo", RepositoryPaths.Root, TimeSpan.FromMinutes(4));
        Assert.True(exit == 0, output);
        string printed = output.Split('\n').Select(l => l.Trim()).Last(l => l.StartsWith(prefix, StringComparison.Ordinal));
        string text = File.ReadAllText(Path.Combine(RepositoryPaths.Root, readme));
        int at = text.IndexOf("prints `" + prefix, StringComparison.Ordinal);
        Assert.True(at >= 0, $"{readme} does not say what the example prints");
        string documented = text[(at + "prints `".Length)..text.IndexOf('`', at + "prints `".Length)];
        // printed with 4 decimals: a float32 summation order of another CPU may move the last digit by one
        double[] expected = Numbers(documented), actual = Numbers(printed);
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1.5e-4, $"{readme} documents `{documented}`, the example printed `{printed}`");
        }
    }

    private static double[] Numbers(string line) => System.Text.RegularExpressions.Regex.Matches(line, @"-?\d+(\.\d+)?")
        .Select(m => double.Parse(m.Value, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
}
