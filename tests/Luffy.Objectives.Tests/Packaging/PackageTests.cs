using System.IO.Compression;
using System.Text;

namespace Luffy.Objectives.Tests.Packaging;

/// <summary>
/// Packs the library into a temporary folder, checks what the package carries, then copies the consumer project
/// (tests/PackageConsumer) to a temporary folder outside the repository — so that it inherits none of the repository's
/// build files — and runs one training step there against the packed package, as another trainer would.
/// </summary>
// Serialized with ReadmeTests: both run dotnet builds that restore the library project (one project.assets.json).
[Collection(nameof(PackageTests))]
[CollectionDefinition(nameof(PackageTests), DisableParallelization = true)]
public class PackageTests
{
    [Fact]
    public void A_consumer_outside_the_repository_restores_the_packed_package_and_runs_a_training_step()
    {
        string root = RepositoryPaths.Root;
        string work = Path.Combine(Path.GetTempPath(), "luffy-package-test-" + Guid.NewGuid().ToString("N"));
        string feed = Path.Combine(work, "feed"), consumer = Path.Combine(work, "consumer");
        string version = $"0.1.0-packagetest.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        string globalPackages = Path.Combine(Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"), "luffy.objectives", version);
        Assert.False(work.StartsWith(root, StringComparison.Ordinal), "the consumer must live outside the repository");
        try
        {
            (int packExit, string packOutput) = ProcessRunner.Run("dotnet",
                $"pack src/Luffy.Objectives/Luffy.Objectives.csproj -c Release -o \"{feed}\" -p:Version={version} --nologo",
                root, TimeSpan.FromMinutes(5));
            Assert.True(packExit == 0, packOutput);

            string nupkg = Path.Combine(feed, $"Luffy.Objectives.{version}.nupkg");
            Assert.True(File.Exists(Path.Combine(feed, $"Luffy.Objectives.{version}.snupkg")), $"symbols package missing.\n{packOutput}");
            using (ZipArchive zip = ZipFile.OpenRead(nupkg))
            {
                string[] entries = zip.Entries.Select(e => e.FullName).ToArray();
                Assert.Contains("README.md", entries);
                Assert.Contains("LICENSE", entries);
                Assert.Contains("docs/objectives.md", entries);
                Assert.Contains("lib/net10.0/Luffy.Objectives.dll", entries);
                Assert.Contains("lib/net10.0/Luffy.Objectives.xml", entries);
                Assert.Contains("buildTransitive/Luffy.Objectives.targets", entries); // the GLIBCXX fix, imported by NuGet
                Assert.Contains("buildTransitive/WeakenElfVersionNeed.cs", entries);
                Assert.DoesNotContain(entries, e => e.StartsWith("contentFiles/", StringComparison.Ordinal)); // nothing compiled into consumers
                string nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open()).ReadToEnd();
                Assert.Contains("<license type=\"expression\">MIT</license>", nuspec);
                Assert.Contains("<readme>README.md</readme>", nuspec);
                string packageReadme = new StreamReader(zip.GetEntry("README.md")!.Open()).ReadToEnd();
                Assert.Contains("## One LUFFY step over micro-batches", packageReadme); // the short package README, not the repository's
                Assert.True(packageReadme.Length < 10_000, $"the package README has {packageReadme.Length} characters");
                Assert.Contains("id=\"TorchSharp\"", nuspec);
                Assert.DoesNotContain("libtorch", nuspec); // consumers choose their native backend
            }

            Directory.CreateDirectory(consumer);
            foreach (string file in new[] { "PackageConsumer.csproj", "Program.cs" })
            {
                File.Copy(Path.Combine(root, "tests", "PackageConsumer", file), Path.Combine(consumer, file));
            }
            // the folder the package was packed into, beside the user's own feeds (which serve TorchSharp and libtorch)
            File.WriteAllText(Path.Combine(consumer, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="luffy-packed" value="{feed}" />
                  </packageSources>
                </configuration>
                """, Encoding.UTF8);
            (int buildExit, string buildOutput) = ProcessRunner.Run("dotnet", $"build -c Release -p:LuffyPackageVersion={version} --nologo", consumer, TimeSpan.FromMinutes(8));
            Assert.True(buildExit == 0, buildOutput);
            (int runExit, string runOutput) = ProcessRunner.Run("dotnet", "run -c Release --no-build", consumer, TimeSpan.FromMinutes(3));
            Assert.True(runExit == 0, runOutput);
            Assert.Contains("consumer step: ok", runOutput);
            Assert.Contains("consumer exgrpo step: ok", runOutput); // an ExGRPO step (buffer, replay, f(p/π_past)) from the package alone
            Assert.Contains("kernel Fused", runOutput.Split("exgrpo: replayed")[1]);
            Assert.Contains("kernel Composed (the fused kernel supports the built-in shaping functions; CappedShaping is not one)", runOutput);
            Assert.True(Directory.Exists(globalPackages), "the consumer did not restore the packed package");
            if (SystemLibStdCxxLacks("GLIBCXX_3.4.32"))
            {
                Assert.Contains("Luffy GLIBCXX fix: marked the GLIBCXX_3.4.32 need", buildOutput); // Debian 12: the package's fix ran
            }
        }
        finally
        {
            TryDelete(work);
            TryDelete(globalPackages);
        }
    }

    private static bool SystemLibStdCxxLacks(string version)
    {
        string? library = new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6" }.FirstOrDefault(File.Exists);
        if (library is null)
        {
            return false;
        }
        byte[] bytes = File.ReadAllBytes(library), needle = Encoding.ASCII.GetBytes(version + "\0");
        return bytes.AsSpan().IndexOf(needle) < 0;
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
        }
    }
}
