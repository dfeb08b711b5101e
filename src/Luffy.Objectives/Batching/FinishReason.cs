namespace Luffy.Objectives.Batching;

/// <summary>Why generation of a sample stopped.</summary>
public enum FinishReason
{
    /// <summary>The policy emitted an EOS token (or nothing was generated, as for a full trace).</summary>
    Eos = 0,

    /// <summary>Generation hit the length limit; the sample is flagged as truncated.</summary>
    Length = 1,
}
