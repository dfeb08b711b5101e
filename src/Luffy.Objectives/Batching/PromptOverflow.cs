namespace Luffy.Objectives.Batching;

/// <summary>What the builder does with a prompt longer than <see cref="BatchBuilderOptions.MaxPromptLength"/>.</summary>
public enum PromptOverflow
{
    /// <summary>Throw an <see cref="ArgumentException"/> naming the prompt (default: nothing is cut silently).</summary>
    Reject = 0,

    /// <summary>Keep the last <see cref="BatchBuilderOptions.MaxPromptLength"/> tokens (the question usually ends the prompt) and count it.</summary>
    TruncateLeft = 1,
}
