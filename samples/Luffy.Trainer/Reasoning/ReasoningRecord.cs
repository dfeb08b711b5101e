using Luffy.Trainer.HuggingFace;

namespace Luffy.Trainer.Reasoning;

/// <summary>
/// One training example in the reference (verl / LUFFY) layout: the prompt messages, the ground-truth answer, and the
/// off-policy target (a stronger model's solution trace) when the record has one.
/// </summary>
/// <param name="Line">1-based line in the file.</param>
/// <param name="Prompt">The conversation to answer.</param>
/// <param name="GroundTruth">The reference answer the verifier compares against.</param>
/// <param name="Target">The off-policy trace, or null.</param>
/// <param name="DataSource">data_source, when given.</param>
public sealed record ReasoningRecord(long Line, IReadOnlyList<ChatMessage> Prompt, string GroundTruth, string? Target, string? DataSource);
