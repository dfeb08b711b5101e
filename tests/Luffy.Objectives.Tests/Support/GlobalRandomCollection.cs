namespace Luffy.Objectives.Tests.Support;

/// <summary>
/// The test classes that seed TorchSharp's global generator (<c>manual_seed</c>) and then draw their inputs from it. xunit
/// runs test classes in parallel, and any other class's draw between a seed and its draws changes the inputs (seen: a
/// kernel test failing once in two full runs, passing alone). This collection runs by itself, after the parallel ones.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalRandomCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "TorchSharp's global generator";
}
