namespace Luffy.Objectives.Shaping;

/// <summary>A built-in shaping function: an instance of <see cref="ShapingFormula"/> (what the fused kernel runs).</summary>
internal interface IBuiltInShaping
{
    /// <summary>The parameters of the shared formula.</summary>
    ShapingFormula Formula { get; }
}
