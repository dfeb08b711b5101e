using System.IO.Compression;

namespace Luffy.Objectives.Tests.Packaging;

/// <summary>
/// Packs the library into the repository's local package source (artifacts/packages, named in nuget.config),
/// checks what the package carries, and builds a consumer project that references the packed package.
/// </summary>
public class PackageTests
{
    [Fact]
    public void Packed_library_carries_readme_license_docs_and_symbols_and_a_consumer_builds_against_it()
    {
        string root = RepositoryPaths.Root;
        string feed = Path.Combine(root, "artifacts", "packages");
        string version = $"0.1.0-packagetest.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        string packagesFolder = Path.Combine(Path.GetTempPath(), "luffy-package-test-" + Guid.NewGuid().ToString("N"));
        string objFolder = Path.Combine(Path.GetTempPath(), "luffy-consumer-obj-" + Guid.NewGuid().ToString("N"));
        try
        {
            (int packExit, string packOutput) = ProcessRunner.Run("dotnet",
                $"pack src/Luffy.Objectives/Luffy.Objectives.csproj -c Release -o \"{feed}\" -p:Version={version} --nologo",
                root, TimeSpan.FromMinutes(5));
            Assert.True(packExit == 0, packOutput);

            string nupkg = Path.Combine(feed, $"Luffy.Objectives.{version}.nupkg");
            string snupkg = Path.Combine(feed, $"Luffy.Objectives.{version}.snupkg");
            Assert.True(File.Exists(nupkg), $"{nupkg} missing.\n{packOutput}");
            Assert.True(File.Exists(snupkg), $"symbols package {snupkg} missing.\n{packOutput}");
            using (ZipArchive zip = ZipFile.OpenRead(nupkg))
            {
                string[] entries = zip.Entries.Select(e => e.FullName).ToArray();
                Assert.Contains("README.md", entries);
                Assert.Contains("LICENSE", entries);
                Assert.Contains("lib/net10.0/Luffy.Objectives.dll", entries);
                Assert.Contains("lib/net10.0/Luffy.Objectives.xml", entries);
                string nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open()).ReadToEnd();
                Assert.Contains("<license type=\"expression\">MIT</license>", nuspec);
                Assert.Contains("<readme>README.md</readme>", nuspec);
                Assert.Contains("id=\"TorchSharp\"", nuspec);
                Assert.DoesNotContain("libtorch", nuspec); // consumers choose their native backend
            }

            (int buildExit, string buildOutput) = ProcessRunner.Run("dotnet",
                $"build tests/PackageConsumer/PackageConsumer.csproj -c Release -p:LuffyPackageVersion={version} -p:RestorePackagesPath=\"{packagesFolder}\" -p:BaseIntermediateOutputPath=\"{objFolder}/\" -p:OutDir=\"{objFolder}/bin/\" --nologo",
                root, TimeSpan.FromMinutes(5));
            Assert.True(buildExit == 0, buildOutput);
            Assert.True(Directory.Exists(Path.Combine(packagesFolder, "luffy.objectives", version)), "the consumer did not restore the packed package from the local source");
        }
        finally
        {
            foreach (string file in Directory.EnumerateFiles(feed, $"Luffy.Objectives.{version}.*"))
            {
                File.Delete(file);
            }
            TryDelete(packagesFolder);
            TryDelete(objFolder);
        }
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
